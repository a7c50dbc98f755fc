"""Structs of presence: what a client sets and what viewers see."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from msgspec import Struct

from hugmood.core.structs import Inbound

Status = Literal["online", "away", "dnd", "offline"]


class PresenceSet(Inbound):
    status: Literal["online", "away", "dnd"]


class Presence(Struct, frozen=True):
    user: uuid.UUID
    status: Status
    last_active: datetime | None
