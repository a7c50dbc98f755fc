"""Seating in audience rooms (`hugmood.social.audiences`), in process against the test database:
one pair's room moves are published in the order its changes committed, and a narrowing move
is published before the change commits."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from hugmood.services import Services
from hugmood.social import graph
from tests.conftest import Recorder, open_services, register, uid, until


class Moves(Recorder):
    """Records room moves as (viewer, owner, tier) with what the database said at that moment;
    the first move can be held at a gate."""

    def __init__(self, db: asyncpg.Pool) -> None:
        super().__init__()
        self.db = db
        self.gate: asyncio.Event | None = None
        self.seats: list[tuple[str, str, str | None, bool]] = []

    async def move(self, members_of: str, leave: list[str], join: list[str]) -> None:
        viewer = members_of.removeprefix("user:")
        owner = (leave + join)[0].split(":")[1]
        tier = join[0].split(":")[2] if join else None
        blocked = await self.db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM blocks WHERE blocker_id = ANY($1::uuid[]) "
            "AND blocked_id = ANY($1::uuid[]))",
            [uuid.UUID(viewer), uuid.UUID(owner)],
        )
        self.seats.append((viewer, owner, tier, blocked))
        if self.gate is not None:
            gate, self.gate = self.gate, None
            await gate.wait()


@pytest.fixture
async def seated(stack, db) -> AsyncIterator[tuple[Services, Moves]]:
    moves = Moves(db)
    svc = await open_services(stack.settings(), moves)
    yield svc, moves
    await svc.close()


async def test_a_pairs_moves_go_out_in_commit_order(api, seated) -> None:
    """A follow is held just before publishing its move; a block of the same pair must wait for
    it, so the block's leave is published after the follow's join and wins."""
    svc, moves = seated
    viewer, owner = await register(api), await register(api)
    v, o = uuid.UUID(uid(viewer)), uuid.UUID(uid(owner))
    gate = moves.gate = asyncio.Event()
    following = asyncio.create_task(graph.follow(svc.ctx, v, o))
    try:
        await until(lambda: len(moves.seats) == 1)  # the follow committed, held publishing
        blocking = asyncio.create_task(graph.block(svc.ctx, o, v))
        await asyncio.sleep(0.3)
        assert len(moves.seats) == 1 and not blocking.done(), "the block did not wait its turn"
    finally:
        gate.set()
    await asyncio.gather(following, blocking)
    seats_of_viewer = [
        tier for who, whose, tier, _ in moves.seats if (who, whose) == (str(v), str(o))
    ]
    assert seats_of_viewer[0] == "followers"
    assert seats_of_viewer[-1] is None  # the block, last: the viewer ends out of the room


async def test_a_narrowing_move_is_published_before_the_change_commits(api, seated) -> None:
    svc, moves = seated
    viewer, owner = await register(api), await register(api)
    v, o = uuid.UUID(uid(viewer)), uuid.UUID(uid(owner))
    await graph.follow(svc.ctx, v, o)
    moves.seats.clear()
    await graph.block(svc.ctx, o, v)
    out = [(tier, blocked) for who, whose, tier, blocked in moves.seats if who == str(v)]
    assert out[0] == (None, False)  # moved out while the block was not yet committed
    assert out[-1] == (None, True)  # and again once it was


async def test_a_failed_change_puts_the_seats_back(api, seated, db) -> None:
    """The block's transaction fails after its narrowing move went out: the viewer is seated
    again as before."""
    svc, moves = seated
    viewer, owner = await register(api), await register(api)
    v, o = uuid.UUID(uid(viewer)), uuid.UUID(uid(owner))
    await graph.follow(svc.ctx, v, o)
    moves.seats.clear()
    await db.execute(
        "CREATE FUNCTION refuse_block() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'refused by test'; END $$"
    )
    await db.execute(
        "CREATE CONSTRAINT TRIGGER refuse_block AFTER INSERT ON blocks "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_block()"
    )
    try:
        with pytest.raises(asyncpg.RaiseError):
            await graph.block(svc.ctx, o, v)
    finally:
        await db.execute("DROP TRIGGER refuse_block ON blocks")
        await db.execute("DROP FUNCTION refuse_block()")
    tiers = [tier for who, whose, tier, _ in moves.seats if (who, whose) == (str(v), str(o))]
    assert tiers == [None, "followers"]
