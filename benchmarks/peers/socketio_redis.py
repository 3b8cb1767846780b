"""A python-socketio chat server, one node of a cluster behind Redis.

    python -m benchmarks.peers.socketio_redis PORT [REDIS_URL]

The setup the python-socketio documentation gives for several server processes:
an ``AsyncServer`` in ASGI mode (``socketio.ASGIApp``) served by uvicorn (as
``uvicorn.run`` serves it: uvloop and httptools with ``uvicorn[standard]``,
its ``websockets`` WebSocket implementation), with
``socketio.AsyncRedisManager(REDIS_URL)`` as its client manager, so that an
``emit`` to a room reaches the room's members on every node (the emitting node
delivers to its own clients, then publishes the message on a Redis channel that
every other node listens to).  Without REDIS_URL the server keeps its rooms in
memory only: the same chat on one node, without the hop through Redis.

Clients connect over WebSocket only (``/socket.io/?EIO=4&transport=websocket``),
send ``join`` with a room name (acknowledged once the client is in the room) and
``say`` with a text, which goes to every other member of the sender's rooms as a
``say`` event.  Engine.IO's ping interval is set to an hour and uvicorn's
WebSocket pings are off, as triochat runs
with ``--ping-interval off`` in the harness: the load generator's receivers do
not answer pings.  Prints ``READY PORT`` once it listens.
"""

from __future__ import annotations

import socket
import sys

import socketio
import uvicorn

PING_INTERVAL = 3600


def make_server(redis_url: str | None) -> socketio.AsyncServer:
    """The Socket.IO server with its chat handlers (Redis manager when *redis_url* is given)."""
    manager = socketio.AsyncRedisManager(redis_url) if redis_url else None
    sio = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=manager,
        transports=["websocket"],
        ping_interval=PING_INTERVAL,
        ping_timeout=60,
    )

    @sio.on("join")  # type: ignore[untyped-decorator]
    async def join(sid: str, room: str) -> str:
        await sio.enter_room(sid, room)
        return room

    @sio.on("say")  # type: ignore[untyped-decorator]
    async def say(sid: str, text: str) -> None:
        for room in sio.rooms(sid):
            if room != sid:
                await sio.emit("say", text, room=room, skip_sid=sid)

    return sio


def main(port: int, redis_url: str | None) -> None:
    """Listen on 127.0.0.1:*port* (0: any), say ``READY PORT``, serve until killed."""
    app = socketio.ASGIApp(make_server(redis_url))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)  # connections wait in the backlog until uvicorn accepts them
    # No WebSocket pings from uvicorn either (its default: every 20 s, closing unanswered ones).
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", ws_ping_interval=None)
    print(f"READY {sock.getsockname()[1]}", flush=True)
    # As ``uvicorn.run`` does: uvloop when it is installed (uvicorn[standard]).
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
