"""Everything the bench takes from the application, in one file: the servers' settings, access
tokens, the presence key the servers write, and the write-only Socket.IO manager a worker
publishes through. When the application's modules move, only the imports here change.

Imported by the orchestrator and by the publisher process only; the websocket load-generator
processes never load the application."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hugmood.core.keys import Keys
from hugmood.core.redis_client import create_client
from hugmood.core.settings import Settings
from hugmood.core.structs import Envelope
from hugmood.identity.tokens import issue_access_token
from realtime.transport.manager import RedisManager


def server_settings(env: Mapping[str, str]) -> Settings:
    """The settings the servers read from `env` (tokens are minted with the same secret)."""
    return Settings.from_env(env)


def access_token(settings: Settings, user_id: str) -> str:
    """An access token for a fresh session of `user_id`, as a login would issue."""
    return issue_access_token(settings, uuid.UUID(user_id), uuid.uuid4(), "user", False)


def presence_announced_key(prefix: str, user_id: str) -> str:
    """The Redis key holding the status last announced for the user."""
    return Keys(prefix).presence_announced(user_id)


class Publisher:
    """Emits events to a room through a write-only RedisManager, as a worker does."""

    def __init__(self, redis_url: str, prefix: str) -> None:
        settings = Settings(
            database_url="postgresql://unused", redis_url=redis_url, redis_prefix=prefix
        )
        self.manager = RedisManager(settings, create_client(settings), write_only=True)

    async def emit(self, event: str, data: Any, room: str) -> None:
        await self.manager.emit(event, Envelope(at=datetime.now(UTC), data=data), room=room)
