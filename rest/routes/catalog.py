"""/catalog: browsing and searching fragrances, their detail, hug collections and designs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hugmood.catalog import designs, queries
from hugmood.catalog.models import DesignQuery, FragranceQuery
from hugmood.core.structs import PageQuery
from rest.http import json_response, principal, query, services


async def list_fragrances(request: Request) -> Response:
    await principal(request)
    page = await queries.list_fragrances(services(request).ctx, query(request, FragranceQuery))
    return json_response(page)


async def get_fragrance(request: Request) -> Response:
    await principal(request)
    ref = request.path_params["ref"]
    return json_response(await queries.fragrance(services(request).ctx.db, ref))


async def list_collections(request: Request) -> Response:
    await principal(request)
    page = await designs.list_collections(services(request).ctx, query(request, PageQuery))
    return json_response(page)


async def list_designs(request: Request) -> Response:
    caller = await principal(request)
    page = await designs.list_designs(
        services(request).ctx, caller.user_id, query(request, DesignQuery)
    )
    return json_response(page)


routes = [
    Route("/catalog/fragrances", list_fragrances, methods=["GET"]),
    Route("/catalog/fragrances/{ref}", get_fragrance, methods=["GET"]),
    Route("/catalog/collections", list_collections, methods=["GET"]),
    Route("/catalog/designs", list_designs, methods=["GET"]),
]
