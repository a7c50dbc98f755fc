"""Queries that must not grow with the data: on a seeded large dataset, the plan of each query
the code runs uses its index (no Seq Scan of the big table, no Sort over all the owner's rows),
and its answer equals a straightforward reference query.

Seeded with set-based SQL in a transaction of the test's own connection, rolled back at the end:
no other test ever sees the rows (and deleting 100,000 users would take longer than the tests).
Plans are checked both as planned for the actual values (custom) and as a cached prepared
statement runs after a few executions (generic), since asyncpg prepares every query.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from hugmood.core.pagination import decode_cursor, encode_cursor, page
from hugmood.delivery import inbox
from hugmood.identity import sessions
from hugmood.moods import entries
from hugmood.social import graph
from tests.conftest import Recorder, Stack, open_services

BASE = datetime(2026, 6, 1, tzinfo=UTC)
OWNERS, DAYS = 200, 365
FANS = 100_000
FOLLOWED_BACK_EVERY = 50  # the celebrity follows every 50th fan back: 2,000 friends
PAGE = 20

# Today's `latest` (before the per-owner probe): the reference answer.
REFERENCE_LATEST = f"""
SELECT DISTINCT ON (m.user_id) {entries.ENTRY_COLUMNS} FROM mood_entries m
JOIN unnest($1::uuid[], $2::bool[]) AS g(owner, friends_ok) ON g.owner = m.user_id
WHERE m.visibility = 'everyone' OR (m.visibility = 'friends' AND g.friends_ok)
ORDER BY m.user_id, m.created_at DESC, m.id DESC
"""
# Every listed user of a list in page order, blocks applied: the reference for all pages.
REFERENCE_LIST = {
    "followers": """
        SELECT f.follower_id AS id, f.created_at AS at FROM follows f
        WHERE f.following_id = $1 AND f.follower_id NOT IN (
            SELECT blocked_id FROM blocks WHERE blocker_id = $2
            UNION SELECT blocker_id FROM blocks WHERE blocked_id = $2)
        ORDER BY 2 DESC, 1 DESC""",
    "following": """
        SELECT f.following_id AS id, f.created_at AS at FROM follows f
        WHERE f.follower_id = $1 AND f.following_id NOT IN (
            SELECT blocked_id FROM blocks WHERE blocker_id = $2
            UNION SELECT blocker_id FROM blocks WHERE blocked_id = $2)
        ORDER BY 2 DESC, 1 DESC""",
    "friends": """
        SELECT f.following_id AS id, greatest(f.created_at, b.created_at) AS at
        FROM follows f JOIN follows b
          ON b.follower_id = f.following_id AND b.following_id = f.follower_id
        WHERE f.follower_id = $1 AND f.following_id NOT IN (
            SELECT blocked_id FROM blocks WHERE blocker_id = $2
            UNION SELECT blocker_id FROM blocks WHERE blocked_id = $2)
        ORDER BY 2 DESC, 1 DESC""",
}
LIST_INDEX = {
    "followers": "follows_following_created_idx",
    "following": "follows_follower_created_idx",
    "friends": "follows_mutual_idx",
}


async def new_users(conn: asyncpg.Connection, prefix: str, count: int) -> list[uuid.UUID]:
    rows = await conn.fetch(
        "INSERT INTO users (username, is_anonymous) "
        "SELECT $1 || n, true FROM generate_series(1, $2) n RETURNING id",
        prefix,
        count,
    )
    return [row["id"] for row in rows]


async def drop_users(conn: asyncpg.Connection, prefix: str) -> None:
    """Everything seeded, by username prefix: follows first in one statement each, so that the
    users' cascades find nothing left to do."""
    users = "SELECT id FROM users WHERE username LIKE $1 || '%'"
    await conn.execute(f"DELETE FROM follows WHERE follower_id IN ({users})", prefix)
    await conn.execute(f"DELETE FROM follows WHERE following_id IN ({users})", prefix)
    await conn.execute(f"DELETE FROM mood_entries WHERE user_id IN ({users})", prefix)
    await conn.execute("DELETE FROM users WHERE username LIKE $1 || '%'", prefix)


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def literal(value: Any) -> str:
    """`value` as SQL (EXECUTE takes no bind parameters)."""
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, bool | int):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if isinstance(value, uuid.UUID):
        return f"'{value}'::uuid"
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    raise TypeError(value)


async def plans(conn: asyncpg.Connection, sql: str, *args: Any) -> list[list[dict[str, Any]]]:
    """The nodes of `sql`'s plan for `args` (custom), then of its generic plan."""
    custom = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))
    name = f"q_{secrets.token_hex(4)}"
    await conn.execute(f"PREPARE {name} AS {sql}")
    try:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        values = ", ".join(literal(arg) for arg in args)
        generic = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE {name}({values})"))
    finally:
        await conn.execute("RESET plan_cache_mode")
        await conn.execute(f"DEALLOCATE {name}")
    return [list(plan_nodes(custom[0]["Plan"])), list(plan_nodes(generic[0]["Plan"]))]


def scans_of(nodes: list[dict[str, Any]], table: str) -> list[tuple[str, str | None]]:
    return [
        (node["Node Type"], node.get("Index Name"))
        for node in nodes
        if node.get("Relation Name") == table
    ]


# --- latest mood per owner --------------------------------------------------------------------


@asynccontextmanager
async def seeding(db: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that is rolled back at the end."""
    async with db.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        try:
            yield conn
        finally:
            await transaction.rollback()


@dataclass
class Moods:
    conn: asyncpg.Connection
    owners: list[uuid.UUID]
    friends_ok: list[bool]


@pytest.fixture(scope="module")
async def moods(db: asyncpg.Pool) -> AsyncIterator[Moods]:
    """200 owners x 365 daily entries (with tags), visibilities mixed per owner, and on some
    owners two newest entries at the same instant."""
    async with seeding(db) as conn:
        owners = await new_users(conn, f"qpm{secrets.token_hex(4)}_", OWNERS)
        await conn.execute(
            """
            INSERT INTO mood_entries (user_id, mood, intensity, valence, arousal, visibility,
                                      created_at)
            SELECT o.id, 'calm', 0.5, 0.5, 0.5,
                   CASE WHEN o.i % 4 = 0 AND d < 40 THEN 'private'
                        WHEN (d + o.i) % 5 = 0 THEN 'friends'
                        WHEN (d + o.i) % 5 = 1 THEN 'private'
                        ELSE 'everyone' END,
                   $2::timestamptz - d * interval '1 day'
            FROM unnest($1::uuid[]) WITH ORDINALITY AS o(id, i), generate_series(0, $3 - 1) d
            UNION ALL
            SELECT o.id, 'tied', 0.5, 0.5, 0.5, 'everyone', $2::timestamptz
            FROM unnest($1::uuid[]) WITH ORDINALITY AS o(id, i) WHERE o.i % 10 = 3
            """,
            owners,
            BASE,
            DAYS,
        )
        await conn.execute(
            "INSERT INTO mood_entry_tags (mood_entry_id, tag) "
            "SELECT m.id, t FROM mood_entries m, unnest(ARRAY['zest', 'Ärger', 'apple']) t "
            "WHERE m.user_id = ANY($1::uuid[]) AND m.created_at > $2",
            owners,
            BASE - timedelta(days=30),
        )
        await conn.execute("ANALYZE mood_entries")
        await conn.execute("ANALYZE mood_entry_tags")
        yield Moods(conn, owners, [n % 2 == 0 for n in range(OWNERS)])


async def test_latest_probes_each_owner_once_and_answers_as_reading_every_entry(
    moods: Moods,
) -> None:
    conn = moods.conn
    for nodes in await plans(conn, entries.LATEST_SQL, moods.owners, moods.friends_ok):
        scans = scans_of(nodes, "mood_entries")
        assert scans, nodes
        assert {index for _, index in scans} == {"mood_entries_user_visibility_created_idx"}
        assert all(kind in ("Index Scan", "Index Only Scan") for kind, _ in scans)
        # The only sorts: two candidates per owner, and the answers by owner.
        for node in nodes:
            if node["Node Type"] == "Sort":
                assert node["Plan Rows"] <= OWNERS, node
    got = await conn.fetch(entries.LATEST_SQL, moods.owners, moods.friends_ok)
    want = await conn.fetch(REFERENCE_LATEST, moods.owners, moods.friends_ok)
    assert [dict(row) for row in got] == [dict(row) for row in want]
    assert len(got) == OWNERS
    assert {row["mood"] for row in got} == {"calm", "tied"}
    assert ["apple", "zest", "Ärger"] in [row["tags"] for row in got]  # byte order


async def test_latest_is_the_newest_visible_entry_per_owner(db: asyncpg.Pool, stack: Stack):
    prefix = f"qpl{secrets.token_hex(4)}_"
    async with db.acquire() as conn:
        hidden, tied, friendly, plain, silent = await new_users(conn, prefix, 5)
        at = BASE + timedelta(days=1)
        rows = [
            # hidden: the newest entries are private / friends-only, an older one is public
            (hidden, "public-old", "everyone", at - timedelta(hours=3)),
            (hidden, "friends-mid", "friends", at - timedelta(hours=2)),
            (hidden, "private-new", "private", at),
            # tied: two visible entries at the same instant; the larger id wins
            (tied, "a", "everyone", at),
            (tied, "b", "friends", at),
            (friendly, "friends-new", "friends", at),
            (friendly, "public-old", "everyone", at - timedelta(hours=1)),
            (plain, "only", "everyone", at - timedelta(days=400)),
            (silent, "secret", "private", at),
        ]
        ids = {}
        for user, mood, visibility, created in rows:
            ids[user, mood] = await conn.fetchval(
                "INSERT INTO mood_entries (user_id, mood, intensity, valence, arousal, "
                "visibility, created_at) VALUES ($1, $2, 0.5, 0.5, 0.5, $3, $4) RETURNING id",
                user,
                mood,
                visibility,
                created,
            )
        await conn.execute(
            "INSERT INTO mood_entry_tags (mood_entry_id, tag) SELECT $1, unnest($2::text[])",
            ids[friendly, "friends-new"],
            ["b", "B", "é", "a"],
        )
    svc = await open_services(stack.settings(), Recorder())
    try:
        everyone = ["everyone"]
        with_friends = ["everyone", "friends"]
        as_follower = await entries.latest(
            svc.ctx, {u: everyone for u in (hidden, tied, friendly, plain, silent)}
        )
        as_friend = await entries.latest(
            svc.ctx, {u: with_friends for u in (hidden, tied, friendly, plain, silent)}
        )
        assert await entries.latest(svc.ctx, {}) == []
    finally:
        await svc.close()
        async with db.acquire() as conn:
            await drop_users(conn, prefix)

    newer_tied = max(ids[tied, "a"], ids[tied, "b"])
    assert {e.user_id: e.mood for e in as_follower} == {
        hidden: "public-old",
        tied: "a",
        friendly: "public-old",
        plain: "only",
    }
    friend_view = {e.user_id: e for e in as_friend}
    assert {u: e.mood for u, e in friend_view.items()} == {
        hidden: "friends-mid",
        tied: "a" if newer_tied == ids[tied, "a"] else "b",
        friendly: "friends-new",
        plain: "only",
    }
    assert friend_view[friendly].tags == ["B", "a", "b", "é"]
    assert [e.user_id for e in as_friend] == sorted(friend_view)


# --- follower / following / friends pages -------------------------------------------------------


@dataclass
class Graph:
    conn: asyncpg.Connection
    celebrity: uuid.UUID
    viewer: uuid.UUID
    blocked: set[uuid.UUID]

    def args(self, cursor: str | None, limit: int = PAGE) -> list[Any]:
        """The arguments `list_users` passes to its page query."""
        return [self.celebrity, self.viewer, *decode_cursor(cursor), limit + 1]

    async def reference(self, which: str) -> list[asyncpg.Record]:
        return await self.conn.fetch(REFERENCE_LIST[which], self.celebrity, self.viewer)


@pytest.fixture(scope="module")
async def celebrity(db: asyncpg.Pool) -> AsyncIterator[Graph]:
    """One owner with 100,000 followers, two followed at each instant, who follows every 50th
    back (a minute later for half of them); a viewer among the fans who blocked some and was
    blocked by some."""
    prefix = f"qpg{secrets.token_hex(4)}_"
    async with seeding(db) as conn:
        (celeb,) = await new_users(conn, prefix + "c", 1)
        fans = await new_users(conn, prefix, FANS)
        await conn.execute(
            "INSERT INTO follows (follower_id, following_id, created_at) "
            "SELECT f.id, $2, $3::timestamptz - (f.n / 2) * interval '1 second' "
            "FROM unnest($1::uuid[]) WITH ORDINALITY AS f(id, n)",
            fans,
            celeb,
            BASE,
        )
        await conn.execute(
            "INSERT INTO follows (follower_id, following_id, created_at) "
            "SELECT $2, f.id, $3::timestamptz - (f.n / 100) * interval '1 second' "
            "  + CASE WHEN f.n % 100 = 0 THEN interval '1 minute' ELSE interval '0' END "
            "FROM unnest($1::uuid[]) WITH ORDINALITY AS f(id, n) WHERE f.n % $4 = 0",
            fans,
            celeb,
            BASE,
            FOLLOWED_BACK_EVERY,
        )
        viewer = fans[500]
        blocked = {fans[49], fans[99], fans[149]}  # three the celebrity follows back
        await conn.executemany(
            "INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)",
            [(viewer, fans[49]), (fans[99], viewer), (viewer, fans[149])],
        )
        for table in ("users", "follows", "blocks"):
            await conn.execute(f"ANALYZE {table}")
        yield Graph(conn, celeb, viewer, blocked)


def assert_no_full_scans(nodes: list[dict[str, Any]]) -> None:
    """No Seq Scan of follows or users, and every index scan of follows bounded by its
    leading column (the owner), not a walk of the whole index."""
    for node in nodes:
        if node.get("Relation Name") in ("follows", "users"):
            assert node["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan"), node
        if node.get("Index Name", "").startswith("follows_"):
            leading = "following_id" if "following" in node["Index Name"] else "follower_id"
            assert node["Index Cond"].lstrip("(").startswith(f"{leading} = "), node


@pytest.mark.parametrize("which", LIST_INDEX)
async def test_list_page_walks_its_index_from_the_cursor(celebrity: Graph, which: str) -> None:
    conn = celebrity.conn
    reference = await celebrity.reference(which)
    middle = len(reference) // 2
    # A cursor deep in the list, on an instant two users share (the next one is its twin).
    deep = encode_cursor(reference[middle]["at"], reference[middle]["id"])
    assert reference[middle + 1]["at"] == reference[middle]["at"] or which != "followers"
    for cursor, start in ((None, 0), (deep, middle + 1)):
        for nodes in await plans(conn, graph.LIST_SQL[which], *celebrity.args(cursor)):
            assert_no_full_scans(nodes)
            # One scan of follows, on the list's index (a bitmap scan of it too, when the
            # planner expects few rows: still only the owner's own entries from the cursor)
            (scan,) = [n for n in nodes if n.get("Index Name", "").startswith("follows_")]
            assert scan["Index Name"] == LIST_INDEX[which]
            assert ("mutual_since" if which == "friends" else "created_at") in scan["Index Cond"]
            for node in nodes:  # only the page's own rows are ever sorted
                if node["Node Type"] == "Sort":
                    assert node["Plan Rows"] <= PAGE + 1, node
        rows = await conn.fetch(graph.LIST_SQL[which], *celebrity.args(cursor))
        assert [(r["id"], r["at"]) for r in rows] == [
            (r["id"], r["at"]) for r in reference[start : start + PAGE + 1]
        ]
    assert len(reference) == (FANS if which == "followers" else FANS // FOLLOWED_BACK_EVERY) - 3
    assert not celebrity.blocked & {r["id"] for r in reference}


@pytest.mark.parametrize("which", LIST_INDEX)
async def test_every_page_of_a_large_list_lists_each_user_once(
    celebrity: Graph, which: str
) -> None:
    seen, cursor = [], None
    while True:
        rows = await celebrity.conn.fetch(graph.LIST_SQL[which], *celebrity.args(cursor, 500))
        result = page(rows, 500, lambda r: r["id"], lambda r: (r["at"], r["id"]))
        seen += result.items
        if (cursor := result.next_cursor) is None:
            break
    assert seen == [row["id"] for row in await celebrity.reference(which)]


# --- batched retention deletes ------------------------------------------------------------------


async def test_purges_delete_in_batches_until_none_are_left(
    db: asyncpg.Pool, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox, "PURGE_BATCH_ROWS", 7)
    monkeypatch.setattr(sessions, "PURGE_BATCH_ROWS", 7)
    prefix = f"qpp{secrets.token_hex(4)}_"
    async with db.acquire() as conn:
        (user,) = await new_users(conn, prefix, 1)
        await conn.execute(
            "INSERT INTO inbox_events (user_id, seq, type, payload, created_at) "
            "SELECT $1, n, 'test', '{}', now() - CASE WHEN n <= 30 THEN interval '400 days' "
            "ELSE interval '0' END FROM generate_series(1, 40) n",
            user,
        )
        families = [uuid.uuid4() for _ in range(3)]
        await conn.executemany(
            "INSERT INTO sessions (id, user_id) VALUES ($1, $2)", [(f, user) for f in families]
        )
        # 20 expired tokens over families 0 and 1; family 2 keeps a live token among expired.
        await conn.execute(
            "INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) "
            "SELECT $1, ($2::uuid[])[1 + n % 3], sha256(convert_to($3 || n, 'UTF8')), "
            "now() - CASE WHEN n = 2 THEN interval '-1 day' ELSE interval '1 day' END "
            "FROM generate_series(0, 20) n",
            user,
            families,
            prefix,
        )
    svc = await open_services(stack.settings(), Recorder())
    try:
        assert await inbox.purge_older_than(svc.ctx, 30 * 86400) >= 30
        assert await sessions.purge_expired(svc.ctx) >= 20
        kept_events = await db.fetchval(
            "SELECT count(*) FROM inbox_events WHERE user_id = $1", user
        )
        kept_sessions = await db.fetch(
            "SELECT id FROM sessions WHERE user_id = $1 ORDER BY id", user
        )
        kept_tokens = await db.fetchval(
            "SELECT count(*) FROM refresh_tokens WHERE user_id = $1", user
        )
    finally:
        await svc.close()
        async with db.acquire() as conn:
            await drop_users(conn, prefix)
    assert kept_events == 10
    assert [row["id"] for row in kept_sessions] == [families[2]]
    assert kept_tokens == 1
