"""The listening socket `memos serve` hands to uvicorn."""

from __future__ import annotations

import socket

from memos.errors import InvalidInput

BACKLOG = 2048


def listening_socket(host: str, port: int) -> socket.socket:
    """Bound and listening, so the address announced is the real one (even with port 0) and a
    client that connects at once waits in the backlog rather than being refused.

    Made as TCP by name (IPPROTO_TCP, not 0): asyncio sets TCP_NODELAY on the connections it
    accepts only from such a socket. Without it Nagle's algorithm holds each small reply on a
    kept-alive connection (how every HTTP client pool connects) until the client's delayed ACK,
    about 40 ms."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror}",
                           "pick another --port, or stop the other server") from None
    sock.listen(BACKLOG)
    return sock
