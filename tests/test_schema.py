"""schema.sql: applying it again is a no-op, and every foreign key is backed by an index."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.conftest import ROOT, register

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
