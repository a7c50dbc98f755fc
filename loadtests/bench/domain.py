"""Everything the bench takes from the application, in one file: the servers' settings, access
tokens (each of a real session row, as the servers refuse tokens of unknown sessions) and the
presence key the servers write. When the application's modules move, only the imports here
change.

Imported by the orchestrator only; the websocket load-generator processes never load the
application."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import asyncpg

from hugmood.core.keys import Keys
from hugmood.core.settings import Settings
from hugmood.identity import sessions
from hugmood.identity.tokens import issue_access_token

T = TypeVar("T")


def server_settings(env: Mapping[str, str]) -> Settings:
    """The settings the servers read from `env` (tokens are minted with the same secret)."""
    return Settings.from_env(env)


class _SessionRows:
    """One connection to the bench database on a private event-loop thread: the harness asks
    for tokens one at a time from synchronous code, and a connection per token would make
    minting 15,000 of them take minutes."""

    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="bench-sessions", daemon=True).start()
        self.conn: asyncpg.Connection = self.run(asyncpg.connect(database_url))
        # Bench setup, not the measured path: no need to wait for each row to reach the disk.
        self.run(self.conn.execute("SET synchronous_commit = off"))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def create(self, user_id: uuid.UUID) -> uuid.UUID:
        return self.run(sessions.create(self.conn, user_id))


_session_rows: dict[str, _SessionRows] = {}
_session_rows_lock = threading.Lock()


def access_token(settings: Settings, user_id: str) -> str:
    """An access token for a fresh session of `user_id`, as a login would issue."""
    with _session_rows_lock:
        rows = _session_rows.get(settings.database_url)
        if rows is None:
            rows = _session_rows[settings.database_url] = _SessionRows(settings.database_url)
    user = uuid.UUID(user_id)
    return issue_access_token(settings, user, rows.create(user), "user", False)


def presence_announced_key(prefix: str, user_id: str) -> str:
    """The Redis key holding the status last announced for the user."""
    return Keys(prefix).presence_announced(user_id)
