"""A lean Socket.IO v5 / Engine.IO v4 websocket client for the benchmark's load generator.

A full python-socketio client costs ~20 µs per received message, enough to make the generator the
bottleneck. This one is an `asyncio.Protocol` speaking the frames directly:

    GET /socket.io/?EIO=4&transport=websocket  ->  101
    server: 0{"sid":..,"pingInterval":..}      client: 40{"token":"..."}
    server: 40{"sid":..}  then 42["hello",{..}]
    server: 2 (ping)                           client: 3 (pong)
    server: 42["event",payload]                (counted; decoded only when asked to)
    client: 42<id>["hug:send",{..}]            server: 43<id>[{"ok":true,..}]

Receiving a `42` frame costs a header parse and an integer increment; only connections created
with an `on_event` callback decode JSON. Outgoing frames are masked as RFC 6455 requires.
Loopback only; no TLS, no extensions (no permessage-deflate is offered, so none is used).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Callable
from typing import Any

import msgspec

_json = msgspec.json.Encoder()
_decode = msgspec.json.decode

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
B4, B2, B3, B0, B_OPEN_BRACE = ord("4"), ord("2"), ord("3"), ord("0"), ord("{")


class ConnectError(Exception):
    """The server refused or broke the handshake (HTTP upgrade, Engine.IO open or auth)."""


def _frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    if n:
        mask = int.from_bytes((key * ((n >> 2) + 1))[:n], "little")
        payload = (int.from_bytes(payload, "little") ^ mask).to_bytes(n, "little")
    return header + key + payload


class SioConnection(asyncio.Protocol):
    """One authenticated Socket.IO connection.

    - `events`: how many `42` (event) frames arrived, hello included.
    - `on_event(name, payload, t_recv)`: if given, called for every event with the decoded
      payload and the time the chunk holding it was read (`time.time()`).
    - `on_raw(t_recv)`: if given (and `on_event` is not), called for every event frame without
      decoding it; cheap hook for counters kept elsewhere.
    - `emit_with_ack(name, data, callback)`: sends `42<id>[name, data]`; `callback(answer,
      t_ack)` gets the first ack argument.
    """

    def __init__(
        self,
        host: str,
        port: int,
        token: str,
        on_event: Callable[[str, Any, float], None] | None = None,
        on_raw: Callable[[float], None] | None = None,
        on_close: Callable[[SioConnection], None] | None = None,
    ) -> None:
        self.host, self.port, self.token = host, port, token
        self.on_event, self.on_raw, self.on_close = on_event, on_raw, on_close
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.fragments: bytearray | None = None
        self.events = 0
        self.sid: str | None = None
        self.ready: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.closed = False
        self._acks: dict[int, Callable[[Any, float], None]] = {}
        self._next_id = 0
        self._key = base64.b64encode(os.urandom(16)).decode()

    # --- transport callbacks ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(  # type: ignore[attr-defined]
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: {self.host}:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {self._key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(ConnectError(f"connection lost during handshake: {exc}"))
        if self.on_close is not None:
            self.on_close(self)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[:end]).split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                self._fail(f"upgrade refused: {status.decode(errors='replace')}")
                return
            del buf[: end + 4]
            self.upgraded = True
        now = time.time()
        pos, n = 0, len(buf)
        on_event, on_raw = self.on_event, self.on_raw
        while n - pos >= 2:
            b0, length = buf[pos], buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + length
            if end > n:
                break
            pos = end
            opcode = b0 & 0x0F
            if b0 & 0x80 and opcode == OP_TEXT:
                # Fast path: an unfragmented Socket.IO event, the hot case.
                if length > 2 and buf[start] == B4 and buf[start + 1] == B2:
                    self.events += 1
                    if on_event is not None:
                        self._event(bytes(buf[start + 2 : end]), now)
                    elif on_raw is not None:
                        on_raw(now)
                    continue
                self._text(bytes(buf[start:end]), now)
            else:
                self._control(b0, opcode, bytes(buf[start:end]), now)
        if pos:
            del buf[:pos]

    # --- frames --------------------------------------------------------------------------

    def _control(self, b0: int, opcode: int, payload: bytes, now: float) -> None:
        if opcode == OP_PING:
            self._write(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            self.close()
        elif opcode in (OP_TEXT, OP_CONT):  # fragmented text message
            if opcode == OP_TEXT:
                self.fragments = bytearray(payload)
            elif self.fragments is not None:
                self.fragments += payload
            if b0 & 0x80 and self.fragments is not None:
                message, self.fragments = bytes(self.fragments), None
                if message[:2] == b"42":
                    self.events += 1
                    if self.on_event is not None:
                        self._event(message[2:], now)
                    elif self.on_raw is not None:
                        self.on_raw(now)
                else:
                    self._text(message, now)

    def _text(self, message: bytes, now: float) -> None:
        kind = message[:1]
        if kind == b"2":  # Engine.IO ping
            self._write(OP_TEXT, b"3")
        elif kind == b"0":  # Engine.IO open: authenticate on the default namespace
            self._write(OP_TEXT, b"40" + _json.encode({"token": self.token}))
        elif kind == b"4":
            sio = message[1:2]
            if sio == b"3":  # ack: 43<id>[answer]
                body = message[2:]
                i = body.find(b"[")
                callback = self._acks.pop(int(body[:i]), None)
                if callback is not None:
                    args = _decode(body[i:])
                    callback(args[0] if args else None, now)
            elif sio == b"0":
                self.sid = _decode(message[2:]).get("sid")
            elif sio == b"4":
                self._fail(f"connect_error: {message[2:].decode(errors='replace')}")
        elif kind == b"1":  # Engine.IO close
            self.close()

    def _event(self, body: bytes, now: float) -> None:
        name, *args = _decode(body)
        if name == "hello" and not self.ready.done():
            self.ready.set_result(now)
        assert self.on_event is not None
        self.on_event(name, args[0] if args else None, now)

    # --- sending --------------------------------------------------------------------------

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(_frame(opcode, payload))

    def emit_with_ack(self, name: str, data: Any, callback: Callable[[Any, float], None]) -> None:
        ack_id = self._next_id
        self._next_id += 1
        self._acks[ack_id] = callback
        self._write(OP_TEXT, b"42" + str(ack_id).encode() + _json.encode([name, data]))

    @property
    def pending_acks(self) -> int:
        return len(self._acks)

    def _fail(self, reason: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectError(reason))
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            try:
                self.transport.write(_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
            finally:
                self.transport.close()


async def connect(
    host: str,
    port: int,
    token: str,
    wait_secs: float = 30,
    on_event: Callable[[str, Any, float], None] | None = None,
    on_raw: Callable[[float], None] | None = None,
    on_close: Callable[[SioConnection], None] | None = None,
) -> SioConnection:
    """Open, authenticate and wait for `hello`; raises `ConnectError` or `TimeoutError`."""
    loop = asyncio.get_running_loop()
    handler = on_event

    # `ready` resolves on hello, which only `_event` sees: count-only connections decode events
    # until hello arrived, then switch to the cheap path.
    def until_hello(name: str, payload: Any, now: float) -> None:
        if handler is not None:
            handler(name, payload, now)

    _, conn = await asyncio.wait_for(
        loop.create_connection(
            lambda: SioConnection(host, port, token, until_hello, None, on_close), host, port
        ),
        wait_secs,
    )
    try:
        await asyncio.wait_for(asyncio.shield(conn.ready), wait_secs)
    except BaseException:
        conn.close()
        raise
    conn.on_event, conn.on_raw = handler, on_raw
    return conn
