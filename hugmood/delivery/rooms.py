"""Room names: the only place they are spelled. Rooms are joined by the server alone, never
named by clients.

Fan-out design: a user's presence and mood go to *audience rooms*, `audience:<owner>:friends` and
`audience:<owner>:followers`, which each follower's connections join (server-side, by tier) at
connect and whenever a follow or block changes. Publishing one update is then one Redis message
however many followers there are, and each process does work only for its own members of the
room. A privacy change needs no membership change: it picks which tier rooms the next update
goes to.
"""

from __future__ import annotations

import uuid
from typing import Literal

# Where a follower sits in the owner's audience: `friends` (mutual follow) or `followers`.
Tier = Literal["friends", "followers"]
TIERS: tuple[Tier, ...] = ("friends", "followers")


def user_room(user_id: uuid.UUID) -> str:
    """Every connection of a user joins this room at connect."""
    return f"user:{user_id}"


def session_room(session_id: uuid.UUID) -> str:
    """Every connection opened with a token of this session joins this room at connect, so
    ending the session reaches exactly its connections."""
    return f"session:{session_id}"


AUDIENCE_PREFIX = "audience:"


def audience_room(owner: uuid.UUID, tier: Tier) -> str:
    return f"{AUDIENCE_PREFIX}{owner}:{tier}"


GROUP_HUG_PREFIX = "group_hug:"
# Rooms the server seats connections in from what PostgreSQL says (the graph, group hugs), as
# opposed to the user's and session's own: re-derived after missed moves (`reseat`).
SEATED_PREFIXES = (AUDIENCE_PREFIX, GROUP_HUG_PREFIX)


def group_hug_room(group_hug_id: uuid.UUID) -> str:
    """The live connections of everyone who joined a group hug that is not over: its
    `joined`, `left` and `pulse` events go here. Joining or leaving moves the user's
    connections on every process; a connection that opens later is seated at connect."""
    return f"{GROUP_HUG_PREFIX}{group_hug_id}"
