"""Structs of delivery: resuming from the inbox (`sync`, `ack`) and what a connection is
greeted with (`hello` and its snapshot)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from hugmood.core.structs import Inbound
from hugmood.group_hugs.models import GroupHugState
from hugmood.identity.models import User
from hugmood.moods.models import MoodEntry
from hugmood.presence.models import Presence


class SyncIn(Inbound):
    since: Annotated[int, Meta(ge=0)]
    limit: Annotated[int, Meta(ge=1, le=1000)] = 500


class AckIn(Inbound):
    seq: Annotated[int, Meta(ge=0)]


class InboxEvent(Struct, frozen=True):
    """A durable event as `sync` returns it (live delivery sends `{seq, at, data}` as `type`)."""

    seq: int
    type: str
    at: datetime
    data: Any


class SyncResult(Struct, frozen=True):
    recovered: bool  # false: events after `since` are gone; refetch history, resume at `head`
    events: list[InboxEvent]
    head: int  # the newest seq of the inbox
    has_more: bool  # true: call sync again with the last seq received


class Snapshot(Struct, frozen=True):
    """Current state of the people the caller may see, sent instead of replaying ephemera."""

    presence: list[Presence]
    moods: list[MoodEntry]
    # The caller's group hugs that are not over: status, count, `starts_at`, time remaining.
    group_hugs: list[GroupHugState] = []


class Hello(Struct, frozen=True):
    user: User
    server_time: datetime
    snapshot: Snapshot
    # When the connection's access token expires: `auth:refresh` with a new one before then.
    token_expires_at: datetime


class AuthRefresh(Inbound):
    token: Annotated[str, Meta(min_length=1, max_length=4096)]


# Why the server ended a connection (`session.ended`): logged out; the session was revoked
# (refresh-token reuse, or an admin ending it); the access token expired without `auth:refresh`.
EndReason = Literal["logged_out", "session_revoked", "token_expired"]


class SessionEnded(Struct, frozen=True):
    """Sent just before the server disconnects a connection; the client should not reconnect
    with the same token (`token_expired`: refresh first; otherwise: sign in again)."""

    reason: EndReason


class Resync(Struct, frozen=True):
    """`resync`: this connection may have missed live events (the server's link to the other
    processes was down): call `sync {since: last_seq}` now; its snapshot has current state."""

    reason: Literal["missed_events"] = "missed_events"
