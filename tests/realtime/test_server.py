"""Socket.IO core: authenticated connect, hello, refusal, errors, and two processes over Redis."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

import jwt
import pytest
import socketio

from tests.conftest import JWT_SECRET, Client, ServerProcess, Stack, bearer, forged, register


async def refused_with(node: ServerProcess, auth: Any) -> Any:
    client = Client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(node.url, auth)
    assert not client.sio.connected
    return client.connect_error


async def test_connect_gets_hello_with_user_and_server_time(api, nodes, connect) -> None:
    session = await register(api, display_name="Hugger")
    before = time.time()
    client = Client()
    await client.connect(nodes[0].url, {"token": session["access_token"]})
    hello = await client.expect("hello")
    await client.close()
    assert hello["data"]["user"] == session["user"]
    assert "seq" not in hello  # hello is ephemeral
    server_time = hello["data"]["server_time"]
    assert server_time.endswith("Z") and hello["at"] == server_time
    assert (
        before - 5
        < time.mktime(time.strptime(server_time[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
        < time.time() + 5
    )


@pytest.mark.parametrize(
    "auth",
    [
        None,
        {},
        {"token": ""},
        {"token": "not-a-jwt"},
        {"token": 42},
        "just-a-string",
        {"token": ["x"]},
    ],
)
async def test_connect_without_valid_token_is_refused_unauthorized(nodes, auth) -> None:
    error = await refused_with(nodes[0], auth)
    assert error["data"]["code"] == "unauthorized"


async def test_expired_wrongly_signed_or_incomplete_tokens_are_refused(api, nodes) -> None:
    session = await register(api)
    user = session["user"]["id"]
    tokens = [
        forged(
            JWT_SECRET, {"sub": user, "exp": int(time.time()) - 60, "iat": int(time.time()) - 1000}
        ),
        forged("some-other-secret-of-sufficient-length", {"sub": user}),
        forged(JWT_SECRET, {"sub": user, "iss": "someone-else"}),
        forged(JWT_SECRET, {"sub": "not-a-uuid"}),
        jwt.encode({"sub": user, "iss": "hugmood"}, JWT_SECRET, algorithm="HS256"),  # no exp
        jwt.encode({"sub": user}, None, algorithm="none"),
        forged(JWT_SECRET, {}),  # valid signature, but the user does not exist
    ]
    for token in tokens:
        error = await refused_with(nodes[0], {"token": token})
        assert error["data"]["code"] == "unauthorized", token


async def test_logged_out_session_can_no_longer_connect(api, nodes) -> None:
    session = await register(api)
    assert (await api.post("/auth/logout", headers=bearer(session))).status_code == 204
    error = await refused_with(nodes[1], {"token": session["access_token"]})
    assert error == {
        "message": "session has ended",
        "data": {"code": "unauthorized", "message": "session has ended"},
    }


async def test_unknown_event_is_answered_invalid(api, nodes, connect) -> None:
    client = await connect(nodes[0], await register(api))
    answer = await client.sio.call("no:such:event", {"x": 1}, timeout=5)
    assert answer == {
        "ok": False,
        "error": {"code": "invalid", "message": "unknown event 'no:such:event'"},
    }


async def test_event_on_one_process_reaches_client_on_the_other(api, nodes, connect) -> None:
    session = await register(api)
    on_b = await connect(nodes[1], session)
    on_a = await connect(nodes[0], session)
    response = await api.patch("/me", json={"display_name": "Across"}, headers=bearer(session))
    assert response.status_code == 200
    for client in (on_b, on_a):
        update = await client.expect("user.updated")
        assert update["data"]["display_name"] == "Across"
        assert update["data"]["id"] == session["user"]["id"]


async def test_event_reaches_only_the_users_own_room(api, nodes, connect) -> None:
    mine, other = await register(api), await register(api)
    stranger = await connect(nodes[1], other)
    await connect(nodes[0], mine)
    await api.put(
        "/me/privacy",
        json={
            "allow_hugs_from": "everyone",
            "show_mood_to": "nobody",
            "show_activity_to": "friends",
        },
        headers=bearer(mine),
    )
    await stranger.nothing()


async def test_write_only_emitter_reaches_clients_on_both_processes(
    api, nodes, connect, emit_to_user
) -> None:
    session = await register(api)
    clients = [await connect(node, session) for node in nodes]
    await emit_to_user(session, "job.finished", {"job": "done"})
    for client in clients:
        payload = await client.expect("job.finished")
        assert payload["data"] == {"job": "done"}


async def test_sigterm_disconnects_clients_and_shuts_down_gracefully(
    api, stack: Stack, tmp_path
) -> None:
    log = tmp_path / "server.log"
    node = ServerProcess(stack, log=log, LOG_LEVEL="INFO")
    await node.wait_ready()
    session = await register(api)
    client = Client()
    await client.connect(node.url, {"token": session["access_token"]})
    await client.expect("hello")
    started = time.monotonic()
    # uvicorn re-raises the signal after its graceful shutdown, as a supervisor expects.
    assert await asyncio.to_thread(node.stop, signal.SIGTERM) == -signal.SIGTERM
    assert time.monotonic() - started < 10
    messages = [json.loads(line)["msg"] for line in log.read_text().splitlines()]
    assert "disconnected" in messages
    assert "Application shutdown complete." in messages
    for _ in range(50):
        if not client.sio.connected:
            break
        await asyncio.sleep(0.1)
    assert not client.sio.connected
