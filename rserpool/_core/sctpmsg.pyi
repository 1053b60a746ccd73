from rserpool.transport.base import Message

def receive(fd: int) -> tuple[bytes, int, int, int, int, int]: ...
def send(
    fd: int,
    data: bytes | bytearray | memoryview | None,
    assoc: int,
    ppid: int,
    stream: int = 0,
    flags: int = 0,
) -> None: ...
def send_batch(
    fd: int, items: list[tuple[bytes | None, int, int, int, int]]
) -> tuple[int, list[tuple[int, int]]]: ...
def receive_messages(
    fd: int, limit: int, scale: int = 1, offset: int = 0, partial: bool = False
) -> list[Message | tuple[bytes, int, int, int, int, int]]: ...
