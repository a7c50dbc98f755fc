"""Writing and reading the audit log: who changed what, from which state to which, and when.

`record` takes the connection of the change's own transaction, so an audit row exists exactly
when the change was committed. Rows are never updated or deleted (the table's trigger refuses
it); `before` is None for a creation and `after` None for a deletion.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec
from msgspec import Struct


class AuditEntry(Struct, frozen=True):
    id: int
    actor_id: uuid.UUID | None
    entity: str
    entity_id: str
    action: str
    before: Any
    after: Any
    at: datetime


def _plain(value: Any) -> Any:
    """Structs, uuids and datetimes as the JSON they are served as."""
    return None if value is None else msgspec.to_builtins(value)


async def record(
    conn: asyncpg.Connection,
    actor_id: uuid.UUID,
    entity: str,
    entity_id: uuid.UUID | str,
    action: str,
    before: Any = None,
    after: Any = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor_id, entity, entity_id, action, before, after) "
        "VALUES ($1, $2, $3, $4, $5, $6)",
        actor_id,
        entity,
        str(entity_id),
        action,
        _plain(before),
        _plain(after),
    )


async def history(
    conn: asyncpg.Connection | asyncpg.Pool, entity: str, entity_id: uuid.UUID | str
) -> list[AuditEntry]:
    """Every change of one entity, oldest first."""
    rows = await conn.fetch(
        "SELECT id, actor_id, entity, entity_id, action, before, after, at FROM audit_log "
        "WHERE entity = $1 AND entity_id = $2 ORDER BY at, id",
        entity,
        str(entity_id),
    )
    return [AuditEntry(**dict(row)) for row in rows]
