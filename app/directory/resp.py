"""RESP encoding of the commands the hot path sends (it pre-packs the parts that do not change)."""


def pack(*args: str | bytes | int) -> bytes:
    """RESP encoding of a command."""
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def bulk(value: str) -> bytes:
    """One RESP bulk string."""
    b = value.encode()
    return b"$%d\r\n%s\r\n" % (len(b), b)


def unpack(packed: bytes) -> list[bytes]:
    """The arguments of a packed command without CR/LF inside (the lookup's, for a client that
    takes arguments rather than RESP)."""
    parts = packed.split(b"\r\n")
    return [parts[i] for i in range(2, len(parts) - 1, 2)]
