"""schema.sql: applying it again is a no-op, it brings a database from before `sessions` up to
date, and every foreign key is backed by an index."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from tests.conftest import ROOT, Stack, _with_database, register

# Every object of the public schema with its identity (oid), so that a drop-and-recreate shows.
CATALOG = {
    "relations": """
        SELECT c.oid::int, c.relname, c.relkind::text FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace ORDER BY c.relname""",
    "columns": """
        SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length,
               numeric_precision, numeric_scale, is_nullable, column_default
        FROM information_schema.columns WHERE table_schema = 'public'
        ORDER BY table_name, ordinal_position""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
        ORDER BY tablename, indexname""",
    "constraints": """
        SELECT con.oid::int, con.conrelid::regclass::text, con.conname,
               pg_get_constraintdef(con.oid)
        FROM pg_constraint con WHERE con.connamespace = 'public'::regnamespace
        ORDER BY 2, 3""",
}

# Foreign keys whose columns are not the leading columns of any (non-partial) index.
UNINDEXED_FOREIGN_KEYS = """
    SELECT con.conrelid::regclass::text AS table_name, con.conname,
           array_agg(a.attname ORDER BY k.ord) AS columns
    FROM pg_constraint con
    CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
    WHERE con.contype = 'f' AND con.connamespace = 'public'::regnamespace
      AND NOT EXISTS (
        SELECT 1 FROM pg_index i
        WHERE i.indrelid = con.conrelid AND i.indpred IS NULL
          AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] @> con.conkey
          AND (i.indkey::int2[])[0:cardinality(con.conkey) - 1] <@ con.conkey
      )
    GROUP BY 1, 2 ORDER BY 1, 2"""


async def snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
    catalog = {
        name: [tuple(row) for row in await conn.fetch(query)] for name, query in CATALOG.items()
    }
    tables = [name for _, name, kind in catalog["relations"] if kind == "r"]
    catalog["rows"] = {t: await conn.fetchval(f'SELECT count(*) FROM "{t}"') for t in tables}
    return catalog


async def test_applying_the_schema_again_changes_nothing(api, db) -> None:
    await register(api)  # some data that must survive
    schema = (ROOT / "schema.sql").read_text()
    async with db.acquire() as conn:
        before = await snapshot(conn)
        await conn.execute(schema)
        after = await snapshot(conn)
    assert {"users", "refresh_tokens", "privacy_settings"} <= set(before["rows"])
    assert before["rows"]["users"] > 0
    assert after == before


@asynccontextmanager
async def scratch_database(stack: Stack) -> AsyncIterator[asyncpg.Connection]:
    """A database of the test's own on the test server, dropped afterwards."""
    name = f"hugmood_scratch_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(stack.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await asyncpg.connect(_with_database(stack.database_url, name))
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_a_database_from_before_sessions_gets_one_per_refresh_token_family(stack) -> None:
    schema = (ROOT / "schema.sql").read_text()
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    later = t0 + timedelta(hours=1)
    async with scratch_database(stack) as conn:
        await conn.execute(schema)
        await conn.execute(
            "ALTER TABLE refresh_tokens DROP CONSTRAINT refresh_tokens_family_id_fkey; "
            "DROP TABLE sessions"
        )
        alice, bob = [
            await conn.fetchval(
                "INSERT INTO users (username, is_anonymous) VALUES ($1, true) RETURNING id", name
            )
            for name in ("alice", "bob")
        ]
        rotated, logged_out, fresh = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        tokens = [  # (user, family, created_at, used_at, revoked_at)
            (alice, rotated, t0, t0, None),
            (alice, rotated, later, None, None),
            (alice, logged_out, t0, t0, later),
            (alice, logged_out, later, None, later + timedelta(minutes=1)),
            (bob, fresh, later, None, None),
        ]
        await conn.executemany(
            "INSERT INTO refresh_tokens "
            "(user_id, family_id, token_hash, created_at, expires_at, used_at, revoked_at) "
            "VALUES ($1, $2, $3, $4::timestamptz, $4::timestamptz + interval '30 days', $5, $6)",
            [(u, f, secrets.token_bytes(32), c, used, rev) for u, f, c, used, rev in tokens],
        )

        await conn.execute(schema)
        rows = await conn.fetch(
            "SELECT id, user_id, created_at, revoked_at, revoked_reason FROM sessions"
        )
        assert {row["id"]: tuple(row)[1:] for row in rows} == {
            rotated: (alice, t0, None, None),
            logged_out: (alice, t0, later + timedelta(minutes=1), "session_revoked"),
            fresh: (bob, later, None, None),
        }
        foreign_key = await conn.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = 'refresh_tokens_family_id_fkey'"
        )
        assert foreign_key == ("FOREIGN KEY (family_id) REFERENCES sessions(id) ON DELETE CASCADE")
        before = await snapshot(conn)
        await conn.execute(schema)
        assert await snapshot(conn) == before


async def test_every_foreign_key_has_an_index_starting_with_its_columns(db) -> None:
    async with db.acquire() as conn:
        foreign_keys = await conn.fetchval(
            "SELECT count(*) FROM pg_constraint "
            "WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
        )
        assert foreign_keys >= 10
        assert [tuple(row) for row in await conn.fetch(UNINDEXED_FOREIGN_KEYS)] == []


async def test_the_index_check_finds_an_unindexed_foreign_key(db) -> None:
    """The check above, shown able to fail: a throwaway table (rolled back) trips it."""
    async with db.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            await conn.execute(
                "CREATE TABLE probe_fk (id int PRIMARY KEY, "
                "owner_id uuid REFERENCES users(id), "
                "indexed_id uuid REFERENCES users(id), "
                "second_id uuid REFERENCES users(id))"
            )
            await conn.execute("CREATE INDEX ON probe_fk (indexed_id)")
            await conn.execute("CREATE INDEX ON probe_fk (id, second_id)")  # not leading
            found = [tuple(row) for row in await conn.fetch(UNINDEXED_FOREIGN_KEYS)]
        finally:
            await transaction.rollback()
    assert found == [
        ("probe_fk", "probe_fk_owner_id_fkey", ["owner_id"]),
        ("probe_fk", "probe_fk_second_id_fkey", ["second_id"]),
    ]
