"""Only C functions (cimport rserpool._core.messages)."""
