"""Writing server messages straight onto clients' websockets: encode and frame once, write to many.

python-socketio sends every packet through engine.io's per-connection queue and writer task, and
a room emit creates one asyncio task per recipient; that was most of the server's time in the
fan-out benchmark. Server-to-client websocket frames are unmasked, so one broadcast is the same
bytes for every recipient: we build the Socket.IO event packet and its websocket frame once and
hand them to each recipient's transport. The protocol on the wire is unchanged.

Backpressure: a transport write never blocks, so a client that reads slower than we write would
grow its buffer without end. Past `MAX_PENDING_BYTES` the connection is dropped; the client
reconnects and resumes from its inbox (`sync`), so nothing durable is lost.
"""

from __future__ import annotations

import logging
import struct
from typing import Any

import msgspec
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import CloseCode

log = logging.getLogger("hugmood.realtime")

# About a thousand typical events; a healthy client on a phone network drains this in well under
# a second, and 5,000 stuck clients cost at most 1.25 GB before each is dropped.
MAX_PENDING_BYTES = 256 * 1024

_encoder = msgspec.json.Encoder()


def event_packet(event: str, data: Any) -> bytes:
    """The Engine.IO message carrying a Socket.IO EVENT in the default namespace, no ack id:
    `42["event",data]`, exactly what python-socketio would send."""
    return b"42" + _encoder.encode([event, data])


def frame(payload: bytes, binary: bool = False) -> bytes:
    """One final, unmasked websocket text (or binary) frame (RFC 6455 5.2) holding `payload`."""
    head = 0x82 if binary else 0x81
    size = len(payload)
    if size < 126:
        return bytes((head, size)) + payload
    if size < 1 << 16:
        return struct.pack("!BBH", head, 126, size) + payload
    return struct.pack("!BBQ", head, 127, size) + payload


class Wire:
    """A connected client's websocket, written directly: every server packet to this client goes
    through `send`, so they arrive in the order they were sent."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    @classmethod
    def of(cls, send: Any) -> Wire | None:
        """The wire under an accepted ASGI websocket connection (`send` is its ASGI send) served
        by uvicorn's websockets-sansio protocol (how `python -m realtime` runs); None under
        anything else, which then keeps engine.io's own send path."""
        protocol = getattr(send, "__self__", None)
        if isinstance(protocol, WebSocketsSansIOProtocol) and protocol.handshake_complete:
            return cls(protocol)
        return None

    def send(self, frame: bytes) -> None:
        protocol = self._protocol
        transport = protocol.transport
        if protocol.close_sent or transport.is_closing():
            return
        transport.write(frame)
        if transport.get_write_buffer_size() > MAX_PENDING_BYTES:
            log.warning(
                "client too slow; dropping the connection",
                extra={"client": protocol.client, "pending_bytes": MAX_PENDING_BYTES},
            )
            transport.abort()


class ClientWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's websockets-sansio protocol (`python -m realtime` serves websockets with it),
    except for a text message that is not UTF-8: that is the client's mistake, so the
    connection fails with close code 1007 (RFC 6455 8.1) and one info line. uvicorn would log
    an exception and, when the client's close frame came in the same read, fail the transport
    with a second traceback."""

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent:
            try:
                b"".join(self.frames).decode()
            except UnicodeDecodeError:
                self.frames = []
                log.info(
                    "client sent text that is not UTF-8; closing", extra={"client": self.client}
                )
                if self.conn.close_sent is None:
                    self.conn.send_close(CloseCode.INVALID_DATA)
                self.handle_parser_exception()
                return
        super().send_receive_event_to_app()
