"""/hugs: the REST mirror of `hug:send` for clients without a socket, and hug history."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hugmood.hugs import history
from hugmood.hugs.models import HugHistoryQuery, HugSend
from rest.http import body, json_response, principal, query, services


async def send_hug(request: Request) -> Response:
    """201 with the new hug, or 200 with the first one when `client_id` was used before."""
    caller = await principal(request)
    data = await body(request, HugSend)
    hug, created = await services(request).hug_sender.send(caller.user_id, data)
    return json_response({"hug": hug, "duplicate": not created}, 201 if created else 200)


async def list_hugs(request: Request) -> Response:
    caller = await principal(request)
    page = await history.list_hugs(
        services(request).ctx, caller.user_id, query(request, HugHistoryQuery)
    )
    return json_response(page)


routes = [
    Route("/hugs", send_hug, methods=["POST"]),
    Route("/hugs", list_hugs, methods=["GET"]),
]
