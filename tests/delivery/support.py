"""A client that follows the documented resume algorithm, shared by the delivery tests and the
chaos test."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.conftest import Client


class InboxClient(Client):
    """Applies live durable events in seq order, drops what it has seen, and `sync`s from its
    last seq on connect, on any gap and on a `resync` hint. A `sync` answered `unavailable`
    (a dependency is down) leaves the gap for the next trigger, as an app would."""

    def __init__(self) -> None:
        super().__init__()
        self.last_seq = 0
        self.applied: list[tuple[int, str, Any]] = []
        self.live: dict[str, float] = {}  # hug id -> when it arrived live (monotonic)
        self._lock = asyncio.Lock()
        self._listen()

    def _listen(self) -> None:
        self.sio.on("hug.received", self._live)
        self.sio.on("resync", self._resync)

    async def drop(self) -> None:
        """Lose the connection, as a phone does, keeping what the app has stored."""
        await self.close()
        Client.__init__(self)
        self._listen()

    async def _live(self, payload: dict[str, Any]) -> None:
        self.events.put_nowait(("hug.received", payload))
        self.live.setdefault(payload["data"]["id"], time.monotonic())
        async with self._lock:
            if payload["seq"] == self.last_seq + 1:
                self._apply(payload["seq"], "hug.received", payload["data"])
            elif payload["seq"] > self.last_seq + 1:
                await self._catch_up()

    async def _resync(self, payload: dict[str, Any]) -> None:
        self.events.put_nowait(("resync", payload))
        await self.catch_up()

    def _apply(self, seq: int, kind: str, data: Any) -> None:
        self.applied.append((seq, kind, data))
        self.last_seq = seq

    async def catch_up(self) -> bool:
        """`sync` until nothing is left; False if the server answered `unavailable`."""
        async with self._lock:
            return await self._catch_up()

    async def _catch_up(self) -> bool:
        while True:
            answer = await self.sio.call("sync", {"since": self.last_seq}, timeout=10)
            if not answer["ok"] and answer["error"]["code"] == "unavailable":
                return False
            assert answer["ok"] and answer["recovered"], answer
            for event in answer["events"]:
                self._apply(event["seq"], event["type"], event["data"])
            if not answer["has_more"]:
                return True

    async def resume(self, url: str, session: dict[str, Any]) -> None:
        await self.connect(url, {"token": session["access_token"]})
        assert await self.catch_up()

    def hug_ids(self) -> list[str]:
        return [data["id"] for _, kind, data in self.applied if kind == "hug.received"]
