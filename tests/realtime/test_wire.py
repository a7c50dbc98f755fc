"""The direct send path (`realtime.transport.wire`): standard clients see the Socket.IO protocol
unchanged, at every frame size, in order, on both processes; a client that stops reading is
dropped instead of growing the server's memory, and everyone else keeps receiving."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hugmood.core.keys import Keys
from hugmood.core.redis_client import create_client
from hugmood.core.structs import Envelope
from realtime.transport.manager import RedisManager
from realtime.transport.wire import MAX_PENDING_BYTES, event_packet
from tests.conftest import ServerProcess, Stack, register

# Packet sizes on each side of the websocket length encodings (7-bit, 16-bit, 64-bit).
SIZES = [125, 126, 127, 65_535, 65_536, 65_537, 200_000]


def envelope_of_size(n: int, size: int) -> Envelope:
    """An envelope whose packet `42["job.progress",<envelope>]` is exactly `size` bytes."""
    at = datetime.now(UTC)
    bare = len(event_packet("job.progress", Envelope(at=at, data={"n": n, "pad": ""})))
    return Envelope(at=at, data={"n": n, "pad": "x" * (size - bare)})


async def raw_socketio(node: ServerProcess, token: str, **options: Any) -> ClientConnection:
    """A bare websocket speaking Engine.IO/Socket.IO by hand, connected as the token's user."""
    ws = await connect(
        node.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", **options
    )
    assert (await ws.recv()).startswith("0{")
    await ws.send("40" + json.dumps({"token": token}))
    return ws


async def frames_until(ws: ClientConnection, count: int, prefix: str) -> list[str]:
    frames: list[str] = []
    while len(frames) < count:
        frame = await asyncio.wait_for(ws.recv(), 5)
        if frame.startswith(prefix):
            frames.append(frame)
    return frames


async def test_broadcast_is_the_socketio_packet_at_every_frame_size(
    api, nodes, connect, stack: Stack
) -> None:
    session = await register(api)
    raws = [await raw_socketio(node, session["access_token"]) for node in nodes]
    clients = [await connect(node, session) for node in nodes]
    for ws in raws:
        await frames_until(ws, 1, '42["hello"')
    settings = stack.settings()
    emitter = RedisManager(settings, create_client(settings), write_only=True)
    sent = []
    for n, size in enumerate(SIZES):
        envelope = envelope_of_size(n, size)
        assert len(event_packet("job.progress", envelope)) == size
        sent.append(envelope)
        await emitter.emit("job.progress", envelope, room=f"user:{session['user']['id']}")
    for ws in raws:  # the exact text python-socketio would have sent, in order
        frames = await frames_until(ws, len(SIZES), '42["job.progress"')
        assert [json.loads(frame[2:]) for frame in frames] == [
            ["job.progress", json.loads(msgspec.json.encode(e))] for e in sent
        ]
        await ws.close()
    for client in clients:  # and a standard client decodes every one
        for envelope in sent:
            payload = await client.expect("job.progress")
            assert payload["data"] == envelope.data


async def test_a_client_that_stops_reading_is_dropped_and_others_keep_receiving(
    api, stack: Stack, connect, emit_to_user, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    node = ServerProcess(stack, log=log, LOG_LEVEL="INFO")
    try:
        await node.wait_ready()
        session = await register(api)
        healthy = await connect(node, session)
        # A tiny receive buffer and a one-message client queue: once the client library has one
        # unread message it stops reading, and the kernel buffers little behind it.
        sock = socket.create_connection(("127.0.0.1", node.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck = await raw_socketio(node, session["access_token"], sock=sock, max_queue=1)
        await frames_until(stuck, 1, '42["hello"')
        count, pad = 300, "x" * 60_000  # 18 MB: far past the kernel's buffers and our limit
        for n in range(count):
            await emit_to_user(session, "bulk", {"n": n, "pad": pad})
        received = [(await healthy.expect("bulk", timeout=10))["data"]["n"] for _ in range(count)]
        assert received == list(range(count))
        got = 0
        with pytest.raises(ConnectionClosed):
            while True:
                if (await asyncio.wait_for(stuck.recv(), 5)).startswith('42["bulk"'):
                    got += 1
        assert got < count
        assert got * len(pad) < 8 * 1024 * 1024  # what the kernel held, not our buffer
        records = [json.loads(line) for line in log.read_text().splitlines()]
        dropped = [r for r in records if r["msg"] == "client too slow; dropping the connection"]
        assert len(dropped) == 1 and dropped[0]["pending_bytes"] == MAX_PENDING_BYTES
        assert "disconnected" in [r["msg"] for r in records]
    finally:
        node.stop()


async def test_pings_keep_an_answering_client_and_drop_a_silent_one(
    api, stack: Stack, connect, emit_to_user, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    node = ServerProcess(
        stack, log=log, LOG_LEVEL="INFO", PING_INTERVAL_SECS="1", PING_TIMEOUT_SECS="1"
    )
    try:
        await node.wait_ready()
        session = await register(api)
        answering = await connect(node, session)  # python-socketio answers pings itself
        silent = await raw_socketio(node, session["access_token"])
        started = asyncio.get_running_loop().time()
        pings = 0
        with pytest.raises(ConnectionClosed):
            while True:
                if await asyncio.wait_for(silent.recv(), 10) == "2":
                    pings += 1
        # One ping, no answer: dropped after the interval plus the timeout (and the service
        # task's sweep), not before the timeout and not never.
        assert pings == 1
        assert 2 <= asyncio.get_running_loop().time() - started < 8
        await asyncio.sleep(2)  # the answering client has lived through more pings
        await emit_to_user(session, "still.here", {})
        assert (await answering.expect("still.here"))["data"] == {}
        records = [json.loads(line) for line in log.read_text().splitlines()]
        reasons = [r.get("reason") for r in records if r["msg"] == "disconnected"]
        assert reasons == ["ping timeout"]
    finally:
        node.stop()


async def test_a_malformed_emit_message_is_skipped_and_delivery_goes_on(
    api, connect, stack: Stack, emit_to_user, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    node = ServerProcess(stack, log=log)
    try:
        await node.wait_ready()
        session = await register(api)
        client = await connect(node, session)
        settings = stack.settings()
        redis = Redis.from_url(settings.redis_url)
        channel = Keys(settings.redis_prefix).socketio_channel
        garbage = [b"hugmood.emit\n", b"hugmood.emit\n[1,2]\nxx", b"hugmood.emit\nnot json\n"]
        for message in garbage:
            await redis.publish(channel, message)
        await redis.aclose()
        await emit_to_user(session, "job.finished", {"after": "garbage"})
        assert (await client.expect("job.finished"))["data"] == {"after": "garbage"}
        messages = [json.loads(line)["msg"] for line in log.read_text().splitlines()]
        assert messages.count("undeliverable emit message") == len(garbage)
        assert not any("pubsub" in message for message in messages)  # the subscription held
    finally:
        node.stop()


async def test_broadcasts_keep_python_socketios_path_on_both_processes(
    api, nodes, connect, stack: Stack
) -> None:
    session = await register(api)
    clients = [await connect(node, session) for node in nodes]
    settings = stack.settings()
    emitter = RedisManager(settings, create_client(settings), write_only=True)
    await emitter.emit("maintenance", Envelope(at=datetime.now(UTC), data={"in": "5 min"}))
    for client in clients:
        assert (await client.expect("maintenance"))["data"] == {"in": "5 min"}


@pytest.mark.parametrize("frame_text", ["", "4", "42[", "4x", "40{"])
async def test_an_undecodable_packet_closes_only_that_connection(
    api, nodes, connect, frame_text: str
) -> None:
    session = await register(api)
    healthy = await connect(nodes[0], session)
    broken = await raw_socketio(nodes[0], session["access_token"])
    await frames_until(broken, 1, '42["hello"')
    await broken.send(frame_text)
    with pytest.raises(ConnectionClosed):
        while True:
            await asyncio.wait_for(broken.recv(), 5)
    answer = await healthy.sio.call("presence:set", {"status": "away"}, timeout=5)
    assert answer == {"ok": True}
