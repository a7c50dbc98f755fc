"""/admin/catalog: create, change and delete catalog entries (admin role only, each change
audited). The role is checked by the domain before any body is read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hugmood.catalog import admin, admin_designs
from hugmood.catalog import admin_models as m
from hugmood.identity.roles import require_admin
from rest.http import body, json_response, path_id, principal, services

Handler = Callable[[Request], Awaitable[Response]]


def creating(create: Callable[..., Awaitable[Any]], data: type[msgspec.Struct]) -> Handler:
    async def handler(request: Request) -> Response:
        caller = require_admin(await principal(request))
        return json_response(
            await create(services(request).ctx, caller, await body(request, data)), 201
        )

    return handler


def patching(change: Callable[..., Awaitable[Any]], data: type[msgspec.Struct]) -> Handler:
    async def handler(request: Request) -> Response:
        caller = require_admin(await principal(request))
        target = path_id(request)
        found = await change(services(request).ctx, caller, target, await body(request, data))
        return json_response(found)

    return handler


def deleting(delete: Callable[..., Awaitable[None]]) -> Handler:
    async def handler(request: Request) -> Response:
        caller = require_admin(await principal(request))
        await delete(services(request).ctx, caller, path_id(request))
        return Response(status_code=204)

    return handler


def crud(path: str, module: Any, name: str, create: type, patch: type) -> list[Route]:
    """POST {path}, PATCH and DELETE {path}/{id} for one kind of entry."""
    return [
        Route(path, creating(getattr(module, f"create_{name}"), create), methods=["POST"]),
        Route(
            f"{path}/{{id}}", patching(getattr(module, f"update_{name}"), patch), methods=["PATCH"]
        ),
        Route(f"{path}/{{id}}", deleting(getattr(module, f"delete_{name}")), methods=["DELETE"]),
    ]


BASE = "/admin/catalog"
routes = [
    *crud(f"{BASE}/notes", admin, "note", m.NoteCreate, m.NotePatch),
    *crud(f"{BASE}/fragrances", admin, "fragrance", m.FragranceCreate, m.FragrancePatch),
    *crud(f"{BASE}/products", admin, "product", m.ProductCreate, m.ProductPatch),
    Route(
        f"{BASE}/products/{{id}}/stock",
        patching(admin.change_stock, m.StockChange),
        methods=["POST"],
    ),
    *crud(
        f"{BASE}/collections", admin_designs, "collection", m.CollectionCreate, m.CollectionPatch
    ),
    *crud(f"{BASE}/designs", admin_designs, "design", m.DesignCreate, m.DesignPatch),
]
