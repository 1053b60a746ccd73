"""Cython hot path: wire codec, handlespace, policies, timers, usrsctp binding."""
