"""PostgreSQL or Redis paused (SIGSTOP, as a stalled disk or a frozen VM looks) under a load of
hug sends: every send is answered `unavailable` within the deadline, the web process's memory
stays bounded, the outage is two log lines naming the dependency, and once it is back a retry
with the same `client_id` makes exactly one hug. The paused server is the test's own."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import (
    Client,
    PostgresServer,
    RedisServer,
    ServerProcess,
    Stack,
    bearer,
    fake_ip,
    register,
    uid,
    until,
)

SENDERS = 20
IN_FLIGHT = 25  # unanswered sends each sender keeps going: 500 at once
PAUSE_SECS = 6
ANSWER_DEADLINE_SECS = 2.8  # the 2 s deadline, plus a loaded test machine
RSS_GROWTH_BYTES = 48 * 2**20  # bounded: not one byte per queued send without end
UNLIMITED = {
    "RATE_HUG_SEND": "1000000/60",
    "RATE_SOCKET_EVENTS": "1000000/60",
    "RATE_REGISTER_IP": "100/60",
}
EVERYONE = {"allow_hugs_from": "everyone", "show_mood_to": "friends", "show_activity_to": "friends"}


@pytest.mark.parametrize("paused", ["postgres", "redis"])
async def test_a_paused_dependency_under_load_is_unavailable_in_time_with_memory_bounded(
    stack: Stack, tmp_path: Path, paused: str
) -> None:
    own: PostgresServer | RedisServer
    if paused == "postgres":
        own = PostgresServer(tmp_path)
        await own.apply_schema()
        env = {"DATABASE_URL": own.url}
    else:
        own = RedisServer(tmp_path)
        await own.start()
        env = {"REDIS_URL": own.url}
    log = tmp_path / "server.log"
    server = ServerProcess(stack, log=log, LOG_LEVEL="INFO", **UNLIMITED, **env)
    try:
        await server.wait_ready()
        await under_load(server, paused, own, log)
    finally:
        server.stop()
        own.resume()
        own.stop() if isinstance(own, PostgresServer) else own.kill()


async def under_load(
    server: ServerProcess, paused: str, own: PostgresServer | RedisServer, log: Path
) -> None:
    async with httpx.AsyncClient(
        base_url=server.url, headers={"X-Forwarded-For": fake_ip()}
    ) as api:
        recipient = await register(api)
        reply = await api.put("/me/privacy", json=EVERYONE, headers=bearer(recipient))
        assert reply.status_code == 200
        senders = [await register(api) for _ in range(SENDERS)]
    clients = []
    for person in senders:
        client = Client()
        await client.connect(server.url, {"token": person["access_token"]})
        await client.expect("hello")
        clients.append(client)
    process = psutil.Process(server.proc.pid)
    before = process.memory_info().rss

    own.pause()
    answers: list[tuple[str, float]] = []  # code, seconds
    peak = before
    stop = time.monotonic() + PAUSE_SECS

    async def send(client: Client, n: int) -> None:
        hug = {"to": uid(recipient), "type": "warm", "client_id": f"paused-{n}"}
        started = time.monotonic()
        reply = await client.sio.call("hug:send", hug, timeout=10)
        answers.append(
            ("ok" if reply["ok"] else reply["error"]["code"], time.monotonic() - started)
        )

    async def keep_sending(client: Client) -> None:
        n = 0
        while time.monotonic() < stop:
            await asyncio.gather(*(send(client, n + i) for i in range(IN_FLIGHT)))
            n += IN_FLIGHT

    async def watch_memory() -> None:
        nonlocal peak
        while time.monotonic() < stop:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.2)

    try:
        await asyncio.gather(watch_memory(), *(keep_sending(client) for client in clients))
    finally:
        own.resume()

    slowest = max(secs for _, secs in answers)
    print(f"\n{paused} paused: {len(answers)} sends answered, slowest {slowest:.2f} s, "
          f"rss {before / 2**20:.0f} -> peak {peak / 2**20:.0f} MiB")  # fmt: skip
    codes = {code for code, _ in answers}
    assert codes == {"unavailable"}, codes  # none got through, none was `internal`
    assert slowest < ANSWER_DEADLINE_SECS
    assert len(answers) >= 2 * SENDERS * IN_FLIGHT  # the load went on for the whole pause
    assert peak - before < RSS_GROWTH_BYTES, (before, peak)

    # Back: each retry of a send answered `unavailable` makes exactly one hug.
    hug = {"to": uid(recipient), "type": "warm", "client_id": "paused-0"}
    for _ in range(50):
        reply = await clients[0].sio.call("hug:send", hug, timeout=10)
        if reply["ok"]:
            break
        await asyncio.sleep(0.1)
    assert reply["ok"], reply
    again = await clients[0].sio.call("hug:send", hug, timeout=10)
    assert again["ok"] and again["duplicate"] and again["hug"]["id"] == reply["hug"]["id"]
    for client in clients:
        await client.close()

    def outage_lines() -> list[str]:
        return [r["msg"] for r in records(log) if r["logger"] == "hugmood.outages"]

    await until(lambda: len(outage_lines()) >= 2, timeout=8)
    assert outage_lines() == [f"{paused} unavailable", f"{paused} back"]
    assert [r for r in records(log) if "exc" in r] == []  # no traceback for an outage
    loud = [r["msg"] for r in records(log) if r["level"] != "info"]
    assert len(loud) <= 8, loud


def records(log: Path) -> list[dict]:
    """Every line of the log, each of which must be JSON."""
    return [json.loads(line) for line in log.read_text().splitlines()]
