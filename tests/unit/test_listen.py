"""`memos serve`'s socket: connections accepted from it have Nagle's algorithm off.

On 6c4d22d the socket was made without naming TCP, so asyncio left TCP_NODELAY unset and every
small reply on a kept-alive connection waited ~40 ms for the client's delayed ACK (a health
check: 44 ms against Letta's 1.3 ms). The delay itself is measured in bench/, not here."""

from __future__ import annotations

import asyncio
import socket

import pytest

from memos.errors import InvalidInput
from memos.server.listen import listening_socket


def test_accepted_connections_have_tcp_nodelay() -> None:
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    seen: list[int] = []

    async def main() -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted = writer.get_extra_info("socket")
            seen.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(handle, sock=sock)  # as uvicorn.Server.run(sockets=[sock])
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            await reader.read()
            writer.close()

    asyncio.run(main())
    assert seen == [1]


def test_a_port_in_use_is_one_clear_error() -> None:
    first = listening_socket("127.0.0.1", 0)
    try:
        with pytest.raises(InvalidInput, match="cannot listen on 127.0.0.1"):
            listening_socket("127.0.0.1", first.getsockname()[1])
    finally:
        first.close()
