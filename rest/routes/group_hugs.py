"""/group-hugs: a group hug for its participants, the caller's list, participant pages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hugmood.core.structs import PageQuery
from hugmood.group_hugs import queries
from hugmood.group_hugs.models import GroupHugQuery
from rest.http import json_response, path_id, principal, query, services


async def list_group_hugs(request: Request) -> Response:
    caller = await principal(request)
    found = await queries.list_for(
        services(request).ctx, caller.user_id, query(request, GroupHugQuery)
    )
    return json_response(found)


async def get_group_hug(request: Request) -> Response:
    caller = await principal(request)
    return json_response(
        await queries.detail(services(request).ctx, caller.user_id, path_id(request))
    )


async def list_participants(request: Request) -> Response:
    caller = await principal(request)
    found = await queries.participants(
        services(request).ctx, caller.user_id, path_id(request), query(request, PageQuery)
    )
    return json_response(found)


routes = [
    Route("/group-hugs", list_group_hugs, methods=["GET"]),
    Route("/group-hugs/{id}", get_group_hug, methods=["GET"]),
    Route("/group-hugs/{id}/participants", list_participants, methods=["GET"]),
]
