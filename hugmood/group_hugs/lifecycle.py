"""What participants do to a group hug: create, invite, join, leave, cancel.

Each is one transaction holding the group hug's row lock, so joins, leaves and transitions of
one group hug happen in one order. Invitations obey the privacy rules exactly as a hug does
(`social.privacy.hug_refusals`): only people the creator may hug can be invited. Durable events
(`invited`, `started`, `canceled`) are appended in the transaction; ephemeral ones (`joined`,
`left`) go to the group's room after commit, and the user's connections on every process are
moved into or out of that room (`delivery.rooms.group_hug_room`).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg

from hugmood.core.context import Context
from hugmood.core.errors import AppError
from hugmood.delivery import inbox
from hugmood.delivery.rooms import group_hug_room, user_room
from hugmood.group_hugs import store, transitions
from hugmood.group_hugs.models import (
    DEFAULT_WAIT_SECS,
    MAX_AHEAD_SECS,
    MAX_PARTICIPANTS,
    OPEN,
    GroupHug,
    GroupHugCreate,
    GroupHugInvite,
    Invited,
    Membership,
    ParticipantStatus,
    Started,
)
from hugmood.identity.users import fetch_card
from hugmood.social import privacy

NOT_INVITED = "you are not invited to this group hug"


def _times(data: GroupHugCreate, at: datetime) -> tuple[datetime | None, datetime]:
    """`scheduled_for` and `expires_at` checked against now; `expires_at` defaults to an hour
    after the scheduled time (or now)."""
    horizon = at + timedelta(seconds=MAX_AHEAD_SECS)
    for name, value in (("scheduled_for", data.scheduled_for), ("expires_at", data.expires_at)):
        if value is not None and value.tzinfo is None:
            raise AppError("invalid", f"{name} needs a time zone (an offset or Z)", name)
    scheduled = data.scheduled_for
    if scheduled is not None and not at < scheduled <= horizon:
        raise AppError("invalid", "scheduled_for must be in the next 30 days", "scheduled_for")
    earliest = scheduled or at
    expires = data.expires_at or earliest + timedelta(seconds=DEFAULT_WAIT_SECS)
    if not earliest < expires <= horizon + timedelta(seconds=DEFAULT_WAIT_SECS):
        raise AppError(
            "invalid",
            "expires_at must be after scheduled_for (or now), within 30 days",
            "expires_at",
        )
    return scheduled, expires


async def _admit(conn: asyncpg.Connection, creator: uuid.UUID, invitees: list[uuid.UUID]) -> None:
    """Refuse the invitation if any invitee may not be hugged by the creator (the same rule and
    the same answers as `hug:send`), is the creator, or is named twice."""
    if len(set(invitees)) != len(invitees):
        raise AppError("invalid", "each invitee may be named once", "invitees")
    if creator in invitees:
        raise AppError("invalid", "you are in your own group hug already", "invitees")
    refusals = await privacy.hug_refusals(conn, [(creator, invitee) for invitee in invitees])
    for i, refusal in enumerate(refusals):
        if refusal is not None:
            raise AppError(refusal.code, refusal.message, f"invitees[{i}]")


async def _check_design(conn: asyncpg.Connection, user: uuid.UUID, design: uuid.UUID) -> None:
    row = await conn.fetchrow(
        "SELECT EXISTS (SELECT 1 FROM hug_designs WHERE id = $1) AS known, "
        "EXISTS (SELECT 1 FROM user_hug_inventory WHERE user_id = $2 AND hug_design_id = $1) "
        "AS owned",
        design,
        user,
    )
    if not row["known"]:
        raise AppError("not_found", "no such hug design", "design_id")
    if not row["owned"]:
        raise AppError("forbidden", "you do not own this hug design", "design_id")


def _invited(group: GroupHug) -> Invited:
    return Invited(
        group.id, group.host, group.name, group.message, group.scheduled_for, group.expires_at
    )


async def _add_invitees(
    conn: asyncpg.Connection, group: GroupHug, invitees: list[uuid.UUID]
) -> list[inbox.Delivery]:
    """Invite those not in the group hug yet (each gets `group_hug.invited`), within the size
    limit."""
    present = await conn.fetchval(
        "SELECT count(*) FROM group_hug_participants WHERE group_hug_id = $1", group.id
    )
    rows = await conn.fetch(
        "INSERT INTO group_hug_participants (group_hug_id, user_id, status) "
        "SELECT $1, u, 'INVITED' FROM unnest($2::uuid[]) AS u ON CONFLICT DO NOTHING "
        "RETURNING user_id",
        group.id,
        invitees,
    )
    if present + len(rows) > MAX_PARTICIPANTS:
        raise AppError(
            "invalid", f"a group hug has at most {MAX_PARTICIPANTS} participants", "invitees"
        )
    data = _invited(group)
    return await inbox.append(conn, [(row["user_id"], "group_hug.invited", data) for row in rows])


async def create(ctx: Context, creator: uuid.UUID, data: GroupHugCreate) -> GroupHug:
    """A PENDING group hug with the creator joined and the invitees invited."""
    scheduled, expires = _times(data, transitions.now())
    async with ctx.db.acquire() as conn, conn.transaction():
        await _admit(conn, creator, data.invitees)
        if data.design_id is not None:
            await _check_design(conn, creator, data.design_id)
        group_id = await conn.fetchval(
            "INSERT INTO group_hugs (creator_id, name, description, message, status, "
            "scheduled_for, expires_at, min_participants, duration_s, design_id) "
            "VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7, $8, $9) RETURNING id",
            creator,
            data.name,
            data.description,
            data.message,
            scheduled,
            expires,
            data.min_participants,
            data.duration_s,
            data.design_id,
        )
        await conn.execute(
            "INSERT INTO group_hug_participants (group_hug_id, user_id, status) "
            "VALUES ($1, $2, 'JOINED')",
            group_id,
            creator,
        )
        group = await store.fetch(conn, group_id)
        deliveries = await _add_invitees(conn, group, data.invitees)
        dues = [expires] if scheduled is None else [transitions.start_due(ctx, scheduled), expires]
        await transitions.schedule(conn, group_id, dues)
    await ctx.bus.move(user_room(creator), [], [group_hug_room(group_id)])
    await inbox.publish(ctx, deliveries)
    return group


def _open(group: GroupHug, me: ParticipantStatus | None) -> None:
    """Refuse strangers (`forbidden`) and group hugs that are over (`conflict`)."""
    if me is None:
        raise AppError("forbidden", NOT_INVITED, "group_hug_id")
    if group.status not in OPEN:
        raise AppError(
            "conflict", f"this group hug is over ({group.status.lower()})", "group_hug_id"
        )


async def _locked(
    conn: asyncpg.Connection, group_id: uuid.UUID, user: uuid.UUID
) -> tuple[GroupHug, ParticipantStatus | None]:
    group = await store.fetch(conn, group_id, lock=True)
    return group, await store.membership(conn, group_id, user)


async def invite(ctx: Context, creator: uuid.UUID, data: GroupHugInvite) -> GroupHug:
    """The creator invites more people while the group hug is not over."""
    async with ctx.db.acquire() as conn, conn.transaction():
        group, me = await _locked(conn, data.group_hug_id, creator)
        _open(group, me)
        if group.host.id != creator:
            raise AppError("forbidden", "only the creator invites", "group_hug_id")
        await _admit(conn, creator, data.invitees)
        deliveries = await _add_invitees(conn, group, data.invitees)
    await inbox.publish(ctx, deliveries)
    return group


async def join(ctx: Context, user: uuid.UUID, group_id: uuid.UUID) -> GroupHug:
    """An invitee (or someone who left) joins; joining again changes nothing. The join that
    brings an unscheduled group hug to `min_participants` starts it; someone joining an ACTIVE
    one gets its `group_hug.started` too."""
    at = transitions.now()
    async with ctx.db.acquire() as conn, conn.transaction():
        group, me = await _locked(conn, group_id, user)
        _open(group, me)
        if me == "JOINED":
            return group
        await store.set_status(conn, group_id, user, "JOINED")
        group = await store.fetch(conn, group_id)
        if group.status == "ACTIVE":
            assert group.starts_at is not None and group.ends_at is not None
            started = Started(
                group.id, group.name, group.starts_at, group.duration_s, group.ends_at
            )
            deliveries = await inbox.append(conn, [(user, "group_hug.started", started)])
        elif transitions.ready(ctx, group, at):
            deliveries = await transitions.start(ctx, conn, group, at)
        else:
            deliveries = []
        card = await fetch_card(conn, user)
    room = group_hug_room(group_id)
    await ctx.bus.move(user_room(user), [], [room])
    await ctx.bus.to_room(room, "group_hug.joined", Membership(group_id, card, group.participants))
    await inbox.publish(ctx, deliveries)
    return await store.fetch(ctx.db, group_id)


async def leave(ctx: Context, user: uuid.UUID, group_id: uuid.UUID) -> GroupHug:
    async with ctx.db.acquire() as conn, conn.transaction():
        group, me = await _locked(conn, group_id, user)
        _open(group, me)
        if group.host.id == user:
            raise AppError("conflict", "the creator cancels instead of leaving", "group_hug_id")
        if me != "JOINED":
            raise AppError("conflict", "you have not joined this group hug", "group_hug_id")
        await store.set_status(conn, group_id, user, "LEFT")
        group = await store.fetch(conn, group_id)
        card = await fetch_card(conn, user)
    room = group_hug_room(group_id)
    await ctx.bus.to_room(room, "group_hug.left", Membership(group_id, card, group.participants))
    await ctx.bus.move(user_room(user), [room], [])
    return group


async def cancel(ctx: Context, user: uuid.UUID, group_id: uuid.UUID) -> GroupHug:
    """The creator ends a group hug that is not over: `group_hug.canceled` for everyone."""
    async with ctx.db.acquire() as conn, conn.transaction():
        group, me = await _locked(conn, group_id, user)
        _open(group, me)
        if group.host.id != user:
            raise AppError("forbidden", "only the creator can cancel a group hug", "group_hug_id")
        deliveries = await transitions.end(conn, group, "CANCELED")
        group = await store.fetch(conn, group_id)
    await transitions.announce_end(ctx, group_id, deliveries)
    return group
