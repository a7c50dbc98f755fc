"""The connection lifecycle (`hugmood.delivery.connections`): CONNECT then `hello` before
anything else, a failed open that leaves nothing behind, sessions that end everywhere at once,
and tokens that bound a connection's life unless refreshed over the socket."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import jwt
import pytest
import socketio
from redis.asyncio import Redis
from websockets.asyncio.client import connect as ws_connect

from hugmood.core.errors import AppError
from hugmood.core.keys import Keys
from hugmood.delivery import connections
from hugmood.delivery.rooms import session_room, user_room
from hugmood.services import Services
from tests.conftest import (
    Client,
    Recorder,
    ServerProcess,
    Stack,
    bearer,
    follow,
    open_services,
    register,
    serving,
    uid,
)


async def ended(client: Client, timeout: float = 5) -> str:
    """Wait for the server to end `client`: the reason of its `session.ended`, which must be
    followed by the disconnect."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        event, data = await client.next(deadline - loop.time())
        if event == "session.ended":
            break
    while client.sio.connected:
        assert loop.time() < deadline, "not disconnected after session.ended"
        await asyncio.sleep(0.02)
    return data["data"]["reason"]


async def still_open(client: Client) -> None:
    answer = await client.sio.call("sync", {"since": 0}, timeout=5)
    assert answer["ok"], answer


# --- hello comes first ---------------------------------------------------------------------


async def test_connect_is_answered_connect_then_hello_before_any_event(
    api, nodes, emit_to_user
) -> None:
    """Events to the user's room keep coming while the user connects again and again: every
    connection's first frames are CONNECT and `hello`, whatever was published meanwhile."""
    session = await register(api)
    node = nodes[1]

    async def flood() -> None:
        n = 0
        while True:
            await emit_to_user(session, "test.noise", {"n": n})
            n += 1
            await asyncio.sleep(0.001)

    noise = asyncio.create_task(flood())
    try:
        for _ in range(15):
            url = node.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
            async with ws_connect(url) as ws:
                assert (await ws.recv()).startswith("0{")
                await ws.send("40" + json.dumps({"token": session["access_token"]}))
                connect_packet = await asyncio.wait_for(ws.recv(), 5)
                hello = await asyncio.wait_for(ws.recv(), 5)
                assert connect_packet.startswith('40{"sid":'), connect_packet
                assert hello.startswith('42["hello",'), hello
                # The noise arrives once hello is out.
                assert '"test.noise"' in await asyncio.wait_for(ws.recv(), 5)
    finally:
        noise.cancel()


async def test_hello_says_when_the_token_expires(api, nodes, connect) -> None:
    session = await register(api)
    client = Client()
    await client.connect(nodes[0].url, {"token": session["access_token"]})
    hello = await client.expect("hello")
    expires = datetime.fromisoformat(hello["data"]["token_expires_at"])
    assert abs(expires.timestamp() - hello_exp(session)) < 1
    await client.close()


def hello_exp(session: dict[str, Any]) -> float:
    return jwt.decode(session["access_token"], options={"verify_signature": False})["exp"]


# --- a failed open leaves nothing behind ---------------------------------------------------


class Seat:
    """A `connections.Seat` that records its rooms, as the transport's does."""

    def __init__(self) -> None:
        self.rooms: list[str] = []

    def join(self, rooms: list[str]) -> None:
        self.rooms += rooms

    def leave_all(self) -> None:
        self.rooms = []

    def moves(self, room: str) -> int:
        return 0


@pytest.fixture
async def svc(stack: Stack) -> AsyncIterator[Services]:
    svc = await open_services(stack.settings(), Recorder())
    yield svc
    await svc.close()


async def presence_entries(svc: Services, user_id: str) -> list[bytes]:
    return await svc.ctx.redis.zrange(svc.ctx.keys.presence_conns(user_id), 0, -1)


def failing(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("dependency down (test)")


@pytest.mark.parametrize(
    "step",
    [
        "hugmood.social.privacy.audience_tiers",
        "hugmood.presence.status.connected",
        "hugmood.delivery.connections.snapshot",
    ],
    ids=["audience rooms", "presence", "snapshot"],
)
async def test_a_failed_step_undoes_every_step_before_it(
    api, svc: Services, monkeypatch, step: str
) -> None:
    session, friend = await register(api), await register(api)
    await follow(api, session, friend)
    await follow(api, friend, session)
    monkeypatch.setattr(step, failing)
    seat, sid = Seat(), f"test-{uuid.uuid4().hex}"
    with pytest.raises(RuntimeError):
        await connections.open_connection(svc.ctx, session["access_token"], sid, seat)
    assert seat.rooms == []
    assert sid.encode() not in await presence_entries(svc, uid(session))

    monkeypatch.undo()
    live, hello = await connections.open_connection(svc.ctx, session["access_token"], sid, seat)
    assert user_room(uuid.UUID(uid(session))) in seat.rooms
    assert session_room(live.principal.session_id) in seat.rooms
    assert any(room.startswith(f"audience:{uid(friend)}:") for room in seat.rooms)
    assert hello.user.id == uuid.UUID(uid(session))
    assert sid.encode() in await presence_entries(svc, uid(session))
    await connections.close_connection(svc.ctx, live)
    assert sid.encode() not in await presence_entries(svc, uid(session))


async def test_a_connect_refused_for_a_broken_dependency_leaves_no_presence(
    api, nodes, connect, db, stack: Stack
) -> None:
    """The snapshot query fails (its table is gone for a moment): the connect is refused as
    `unavailable`, the user does not stay online, and the next connect works."""
    session, friend = await register(api), await register(api)
    await follow(api, session, friend)
    await follow(api, friend, session)  # so the snapshot reads the friend's moods
    await db.execute("ALTER TABLE mood_entries RENAME TO mood_entries_away")
    try:
        client = Client()
        with pytest.raises(socketio.exceptions.ConnectionError):
            await client.connect(nodes[0].url, {"token": session["access_token"]})
        assert client.connect_error["data"] == {
            "code": "unavailable",
            "message": "the service is unavailable; retry shortly",
        }
    finally:
        await db.execute("ALTER TABLE mood_entries_away RENAME TO mood_entries")
    redis = Redis.from_url(stack.redis_url)
    keys = Keys(stack.redis_prefix)
    try:
        assert await redis.zcard(keys.presence_conns(uid(session))) == 0
        # Announced offline after the test servers' 1 s grace and the next 1 s sweep.
        for _ in range(50):
            if await redis.get(keys.presence_announced(uid(session))) in (None, b"offline"):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the user stayed online after a refused connect")
    finally:
        await redis.aclose()
    await connect(nodes[0], session)  # works again


# --- sessions end everywhere at once -------------------------------------------------------


async def test_logout_ends_that_sessions_sockets_on_every_process_and_no_other(
    api, nodes, connect
) -> None:
    session = await register(api)
    login = await api.post(
        "/auth/login", json={"login": session["user"]["username"], "password": "correct horse"}
    )
    other_session = login.json()
    on_a, on_b = await connect(nodes[0], session), await connect(nodes[1], session)
    other = await connect(nodes[1], other_session)
    started = asyncio.get_running_loop().time()
    assert (await api.post("/auth/logout", headers=bearer(session))).status_code == 204
    reasons = await asyncio.gather(ended(on_a, 1), ended(on_b, 1))
    assert reasons == ["logged_out", "logged_out"]
    assert asyncio.get_running_loop().time() - started < 1
    await still_open(other)


@pytest.fixture
async def short_grace(stack: Stack) -> AsyncIterator[list[ServerProcess]]:
    """Two servers on which reusing a rotated refresh token is theft after 1 s."""
    async with serving(stack, 2, REFRESH_REUSE_GRACE_SECS="1") as servers:
        yield servers


async def test_refresh_token_reuse_ends_the_session_everywhere(short_grace, connect) -> None:
    async with httpx.AsyncClient(base_url=short_grace[0].url) as api:
        session = await register(api)
        first = await api.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert first.status_code == 200
        rotated = first.json()
        with_old = await connect(short_grace[0], session)
        with_new = await connect(short_grace[1], rotated)
        await asyncio.sleep(1.2)  # past the reuse grace
        reuse = await api.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
        assert reuse.status_code == 401
    assert await asyncio.gather(ended(with_old), ended(with_new)) == [
        "session_revoked",
        "session_revoked",
    ]


async def test_a_session_ended_while_its_end_message_was_lost_still_ends(
    api, nodes, connect, db
) -> None:
    """The revocation reaches PostgreSQL but no end message goes out (as when Redis is down):
    the connection's process finds it with its next presence refresh (1 s on test servers)."""
    session = await register(api)
    client = await connect(nodes[1], session)
    claims = jwt.decode(session["access_token"], options={"verify_signature": False})
    await db.execute(
        "UPDATE sessions SET revoked_at = now(), revoked_reason = 'logged_out' WHERE id = $1",
        uuid.UUID(claims["sid"]),
    )
    assert await ended(client, 4) == "logged_out"


# --- token lifetime on open sockets --------------------------------------------------------


@pytest.fixture
async def short_tokens(stack: Stack) -> AsyncIterator[ServerProcess]:
    """A server whose access tokens live 3 s and whose connections outlive them by 1 s."""
    env = {"ACCESS_TOKEN_TTL_SECS": "3", "TOKEN_GRACE_SECS": "1", "REFRESH_REUSE_GRACE_SECS": "1"}
    async with serving(stack, 1, **env) as (server,):
        yield server


async def test_an_expired_token_ends_the_connection_unless_refreshed_over_it(
    short_tokens: ServerProcess, connect
) -> None:
    async with httpx.AsyncClient(base_url=short_tokens.url) as api:
        lazy, keen = await register(api), await register(api)
        lazy_client = await connect(short_tokens, lazy)
        keen_client = await connect(short_tokens, keen)
        await asyncio.sleep(1.5)
        fresh = await api.post("/auth/refresh", json={"refresh_token": keen["refresh_token"]})
        answer = await keen_client.sio.call(
            "auth:refresh", {"token": fresh.json()["access_token"]}, timeout=5
        )
        assert answer["ok"], answer
        assert datetime.fromisoformat(answer["token_expires_at"]).timestamp() == hello_exp(
            fresh.json()
        )
        assert await ended(lazy_client, 6) == "token_expired"
        await still_open(keen_client)  # past the first token's expiry and grace


async def test_auth_refresh_refuses_other_sessions_and_bad_tokens(api, nodes, connect) -> None:
    session, someone = await register(api), await register(api)
    client = await connect(nodes[0], session)
    other = await client.sio.call("auth:refresh", {"token": someone["access_token"]}, timeout=5)
    assert other["ok"] is False and other["error"]["code"] == "forbidden"
    bad = await client.sio.call("auth:refresh", {"token": "x.y.z"}, timeout=5)
    assert bad == {
        "ok": False,
        "error": {"code": "unauthorized", "message": "invalid access token"},
    }
    await still_open(client)


async def test_open_connection_refuses_a_deleted_account(api, svc: Services, db) -> None:
    session = await register(api)
    await db.execute("DELETE FROM users WHERE id = $1", uuid.UUID(uid(session)))
    with pytest.raises(AppError) as refused:
        await connections.open_connection(svc.ctx, session["access_token"], "sid", Seat())
    assert refused.value.code == "unauthorized"
