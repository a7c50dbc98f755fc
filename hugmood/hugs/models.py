"""Structs of hugs: the client events that send, read, react to and request hugs, and the hugs
and receipts they produce."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from hugmood.core.structs import ClientId, Inbound, Text
from hugmood.identity.models import UserCard

HugType = Literal[
    "warm", "bear", "side", "gentle", "comfort", "celebration", "healing", "long_distance"
]
HugMessage = Text(500)
Emoji = Text(16, min_length=1)
MAX_REQUEST_RECIPIENTS = 50


class HugSend(Inbound):
    to: uuid.UUID
    type: HugType
    client_id: ClientId
    message: HugMessage | None = None
    design_id: uuid.UUID | None = None


class HugRead(Inbound):
    hug_id: uuid.UUID


class HugReact(Inbound):
    hug_id: uuid.UUID
    emoji: Emoji
    message: HugMessage | None = None


class HugRequest(Inbound):
    to: (
        Annotated[list[uuid.UUID], Meta(min_length=1, max_length=MAX_REQUEST_RECIPIENTS)]
        | Literal["friends"]
    ) = "friends"
    message: HugMessage | None = None


class HugHistoryQuery(Inbound):
    box: Literal["inbox", "sent"] = "inbox"
    limit: Annotated[int, Meta(ge=1, le=100)] = 20
    cursor: Text(200) | None = None


class Reaction(Struct, frozen=True):
    emoji: str
    message: str | None
    reacted_at: datetime


class Hug(Struct, frozen=True):
    id: uuid.UUID
    sender_id: uuid.UUID
    recipient_id: uuid.UUID
    type: str
    message: str | None
    design_id: uuid.UUID | None
    client_id: str
    sent_at: datetime
    received_at: datetime | None
    read_at: datetime | None
    reaction: Reaction | None = None


class HugDelivered(Struct, frozen=True):
    hug_id: uuid.UUID
    received_at: datetime


class HugReadReceipt(Struct, frozen=True):
    hug_id: uuid.UUID
    read_at: datetime


class HugReacted(Struct, frozen=True):
    hug_id: uuid.UUID
    reaction: Reaction


class HugRequested(Struct, frozen=True):
    request_id: uuid.UUID
    requester: UserCard
    message: str | None
