"""Moods over REST: record (mirror of `mood:update`), own history, aggregates, streak, and
other people's feeds filtered by their privacy."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hugmood import moods
from hugmood.models import MoodStatsQuery, MoodUpdate, PageQuery
from rest.http import body, ctx, json_response, path_id, principal, query


async def record(request: Request) -> Response:
    caller = await principal(request)
    entry = await moods.record(ctx(request), caller.user_id, await body(request, MoodUpdate))
    return json_response(entry, 201)


async def own_history(request: Request) -> Response:
    caller = await principal(request)
    page = await moods.feed(ctx(request), caller.user_id, caller.user_id, query(request, PageQuery))
    return json_response(page)


async def stats(request: Request) -> Response:
    caller = await principal(request)
    return json_response(
        await moods.stats(ctx(request), caller.user_id, query(request, MoodStatsQuery))
    )


async def streak(request: Request) -> Response:
    caller = await principal(request)
    return json_response(await moods.streak(ctx(request), caller.user_id))


async def user_feed(request: Request) -> Response:
    caller = await principal(request)
    page = await moods.feed(
        ctx(request), caller.user_id, path_id(request), query(request, PageQuery)
    )
    return json_response(page)


routes = [
    Route("/me/moods", record, methods=["POST"]),
    Route("/me/moods", own_history, methods=["GET"]),
    Route("/me/moods/stats", stats, methods=["GET"]),
    Route("/me/moods/streak", streak, methods=["GET"]),
    Route("/users/{id}/moods", user_feed, methods=["GET"]),
]
