"""/users: lookup, follow, block, and the follower / following / friends lists."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hugmood import social
from hugmood.models import PageQuery
from rest.http import ctx, json_response, path_id, principal, query


async def lookup(request: Request) -> Response:
    caller = await principal(request)
    username = request.path_params["username"]
    return json_response(await social.lookup(ctx(request), caller.user_id, username))


async def follow(request: Request) -> Response:
    caller = await principal(request)
    return json_response(await social.follow(ctx(request), caller.user_id, path_id(request)))


async def unfollow(request: Request) -> Response:
    caller = await principal(request)
    return json_response(await social.unfollow(ctx(request), caller.user_id, path_id(request)))


async def block(request: Request) -> Response:
    caller = await principal(request)
    await social.block(ctx(request), caller.user_id, path_id(request))
    return Response(status_code=204)


async def unblock(request: Request) -> Response:
    caller = await principal(request)
    await social.unblock(ctx(request), caller.user_id, path_id(request))
    return Response(status_code=204)


def user_list(which: str):
    async def endpoint(request: Request) -> Response:
        caller = await principal(request)
        page = await social.list_users(
            ctx(request), caller.user_id, path_id(request), which, query(request, PageQuery)
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
