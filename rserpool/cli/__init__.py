"""Command-line programs: rserpool-registrar, rserpool-hsdump, and their shared helpers."""
