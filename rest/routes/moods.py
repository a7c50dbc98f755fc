"""Moods over REST: record (mirror of `mood:update`), own history, aggregates, streak, and
other people's feeds filtered by their privacy."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hugmood.core.structs import PageQuery
from hugmood.moods import entries, stats
from hugmood.moods.models import MoodStatsQuery, MoodUpdate
from rest.http import body, json_response, path_id, principal, query, services


async def record(request: Request) -> Response:
    """201 with the new entry, or 200 with the first one when `client_id` was used before."""
    caller = await principal(request)
    entry, created = await entries.record(
        services(request).ctx, caller.user_id, await body(request, MoodUpdate)
    )
    return json_response(entry, 201 if created else 200)


async def own_history(request: Request) -> Response:
    caller = await principal(request)
    page = await entries.feed(
        services(request).ctx, caller.user_id, caller.user_id, query(request, PageQuery)
    )
    return json_response(page)


async def get_stats(request: Request) -> Response:
    caller = await principal(request)
    return json_response(
        await stats.stats(services(request).ctx, caller.user_id, query(request, MoodStatsQuery))
    )


async def get_streak(request: Request) -> Response:
    caller = await principal(request)
    return json_response(await stats.streak(services(request).ctx, caller.user_id))


async def user_feed(request: Request) -> Response:
    caller = await principal(request)
    page = await entries.feed(
        services(request).ctx, caller.user_id, path_id(request), query(request, PageQuery)
    )
    return json_response(page)


routes = [
    Route("/me/moods", record, methods=["POST"]),
    Route("/me/moods", own_history, methods=["GET"]),
    Route("/me/moods/stats", get_stats, methods=["GET"]),
    Route("/me/moods/streak", get_streak, methods=["GET"]),
    Route("/users/{id}/moods", user_feed, methods=["GET"]),
]
