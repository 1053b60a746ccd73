def receive(fd: int) -> tuple[bytes, int, int, int, int, int]: ...
def send(
    fd: int,
    data: bytes | bytearray | memoryview | None,
    assoc: int,
    ppid: int,
    stream: int = 0,
    flags: int = 0,
) -> None: ...
