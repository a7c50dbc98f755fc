"""The shape of a client event: its payload Struct and the handler that answers it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hugmood.core.structs import Inbound
from hugmood.delivery.connections import Live
from hugmood.services import Services

# (services, the calling connection, decoded payload) -> the fields of the `{ok: true, ...}`
Handler = Callable[[Services, Live, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ClientEvent:
    payload: type[Inbound]
    handler: Handler
