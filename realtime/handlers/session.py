"""`auth:refresh`: a newer access token of the connection's own session keeps it open past the
old token's expiry (see `hugmood.delivery.connections`)."""

from __future__ import annotations

from typing import Any

from hugmood.delivery import connections
from hugmood.delivery.connections import Live
from hugmood.delivery.models import AuthRefresh
from hugmood.services import Services
from realtime.handlers.event import ClientEvent


async def auth_refresh(svc: Services, live: Live, data: AuthRefresh) -> dict[str, Any]:
    return {"token_expires_at": await connections.refresh(svc.ctx, live, data.token)}


EVENTS = {"auth:refresh": ClientEvent(AuthRefresh, auth_refresh)}
