"""/users: lookup, follow, block, and the follower / following / friends lists."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hugmood.core.structs import PageQuery
from hugmood.social import graph
from rest.http import json_response, path_id, principal, query, services


async def lookup(request: Request) -> Response:
    caller = await principal(request)
    username = request.path_params["username"]
    return json_response(await graph.lookup(services(request).ctx, caller.user_id, username))


async def follow(request: Request) -> Response:
    caller = await principal(request)
    return json_response(
        await graph.follow(services(request).ctx, caller.user_id, path_id(request))
    )


async def unfollow(request: Request) -> Response:
    caller = await principal(request)
    return json_response(
        await graph.unfollow(services(request).ctx, caller.user_id, path_id(request))
    )


async def block(request: Request) -> Response:
    caller = await principal(request)
    await graph.block(services(request).ctx, caller.user_id, path_id(request))
    return Response(status_code=204)


async def unblock(request: Request) -> Response:
    caller = await principal(request)
    await graph.unblock(services(request).ctx, caller.user_id, path_id(request))
    return Response(status_code=204)


def user_list(which: str):
    async def endpoint(request: Request) -> Response:
        caller = await principal(request)
        page = await graph.list_users(
            services(request).ctx,
            caller.user_id,
            path_id(request),
            which,
            query(request, PageQuery),
        )
        return json_response(page)

    return endpoint


routes = [
    Route("/users/by-username/{username}", lookup, methods=["GET"]),
    Route("/users/{id}/follow", follow, methods=["POST"]),
    Route("/users/{id}/follow", unfollow, methods=["DELETE"]),
    Route("/users/{id}/block", block, methods=["POST"]),
    Route("/users/{id}/block", unblock, methods=["DELETE"]),
    *(
        Route(f"/users/{{id}}/{which}", user_list(which), methods=["GET"])
        for which in ("followers", "following", "friends")
    ),
]
