"""Engine.IO over our direct websocket writes: the protocol unchanged, less machinery per client.

python-engineio gives every websocket client a send queue, a writer task, a ping task that
sleeps between pings, and a new task (plus a `wait_for`) for every frame it reads. Once a client
has a `Wire` (`wire.py`) none of that is needed: packets are written in the order they are
sent, pings are timer callbacks, and the connection's own ASGI task reads frames in a plain loop.
That is less memory per idle connection and less work per message. Clients without a wire (any
other ASGI server) keep python-engineio's path untouched.

Dead peers are still found by Engine.IO's ping timeout (python-engineio's service task checks
every socket); closing then sends a websocket close, after which uvicorn drops the transport.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import engineio
from engineio import packet
from engineio.async_socket import AsyncSocket

from realtime.transport.wire import Wire, frame

log = logging.getLogger("hugmood.realtime")


class _Socket(AsyncSocket):
    wire: Wire | None = None
    _ws: Any = None  # engine.io's ASGI websocket wrapper, to close it
    # Socket.IO events held back while the connection opens (see `hold`), else None.
    held: list[packet.Packet] | None = None

    def hold(self) -> None:
        """Keep Socket.IO events back until `release`: a connection that joined rooms while it
        opens gets its `hello` first (protocol packets such as CONNECT still go out)."""
        if self.held is None:
            self.held = []

    async def release(self, first: packet.Packet) -> None:
        """Send `first`, then every event held back, in order; stop holding."""
        held, self.held = self.held or [], None
        for pkt in (first, *held):
            await self.send(pkt)

    async def send(self, pkt: packet.Packet) -> None:
        if self.held is not None and _is_held(pkt):
            self.held.append(pkt)
        elif self.wire is None:
            await super().send(pkt)
        elif not self.closed:
            self._write(pkt)

    def _write(self, pkt: packet.Packet) -> None:
        assert self.wire is not None
        encoded = pkt.encode()
        if isinstance(encoded, str):
            self.wire.send(frame(encoded.encode()))
        else:
            self.wire.send(frame(encoded, binary=True))

    def schedule_ping(self) -> None:
        # As python-engineio: the next ping only once the last one was answered.
        if self.last_ping:
            self.last_ping = None
            asyncio.get_running_loop().call_later(self.server.ping_interval, self._ping)

    def _ping(self) -> None:
        if self.closing or self.closed:
            return
        self.last_ping = time.time()
        if self.wire is not None:
            self._write(packet.Packet(packet.PING))
        else:
            self.server.start_background_task(super().send, packet.Packet(packet.PING))

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        await super().close(wait=wait and self.wire is None, abort=abort, reason=reason)
        if self._ws is not None and not abort:
            await self._ws.close()  # the peer may be gone: end our read loop from this side

    async def _websocket_handler(self, ws: Any) -> None:
        wire = Wire.of(ws.asgi_send)
        if self.connected or wire is None:  # an upgrade from polling, or no wire: the stock path
            await super()._websocket_handler(ws)
            return
        self.connected = self.upgraded = True
        self.wire, self._ws = wire, ws
        while not self.queue.empty():  # the OPEN packet, queued before the websocket was up
            self._write(self.queue.get_nowait())
            self.queue.task_done()
        while True:
            try:
                data = await ws.wait()
            except Exception:  # the connection closed (engine.io's wrapper raises OSError)
                break
            if data is None or len(data) > self.server.max_http_buffer_size:
                break
            try:
                await self.receive(packet.Packet(encoded_packet=data))
            except engineio.exceptions.UnknownPacketError:
                continue  # as python-engineio: ignored
            except engineio.exceptions.SocketIsClosedError:
                break
            except Exception as exc:  # not an Engine.IO packet: the client's mistake, one line
                log.info("client sent an undecodable packet; closing", extra={"error": repr(exc)})
                break
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)


def _is_held(pkt: packet.Packet) -> bool:
    """Every Socket.IO packet but CONNECT, DISCONNECT and CONNECT_ERROR (Engine.IO's own, such
    as pings, are never held)."""
    if pkt.packet_type != packet.MESSAGE:
        return False
    return not (isinstance(pkt.data, str) and pkt.data[:1] in ("0", "1", "4"))


class EngineIO(engineio.AsyncServer):
    """python-engineio's server with `_Socket`s. It constructs `AsyncSocket` itself, with no
    hook to choose the class, so each socket becomes a `_Socket` (a subclass adding no state
    but two attributes) at its `connect` event: right after construction, before its
    transport starts. python-socketio's packets reach sockets through `send_packet` →
    `_Socket.send`, so they take the wire too."""

    async def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "connect":
            self.sockets[args[0]].__class__ = _Socket
        return await super()._trigger_event(event, *args, **kwargs)
