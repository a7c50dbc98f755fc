"""The shape of a client event: its payload Struct and the handler that answers it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hugmood.core.structs import Inbound
from hugmood.identity.models import Principal
from hugmood.services import Services

# (services, caller, socket id, decoded payload) -> the fields of the `{ok: true, ...}` answer
Handler = Callable[[Services, Principal, str, Any], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class ClientEvent:
    payload: type[Inbound]
    handler: Handler
