"""The Starlette application: routes by resource, one error mapping, CORS, request ids."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from hugmood.core.errors import AppError
from hugmood.core.outages import DATABASE_DOWN, NETWORK_DOWN, REDIS_DOWN
from hugmood.core.settings import Settings
from rest.http import on_app_error, on_http_error, on_outage, on_unexpected
from rest.middleware import RequestIdMiddleware
from rest.routes import (
    admin_catalog,
    auth,
    catalog,
    devices,
    group_hugs,
    health,
    hugs,
    me,
    moods,
    social,
)

Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None] | AsyncIterator[None]]


def create_rest_app(settings: Settings, lifespan: Lifespan) -> Starlette:
    middleware = [Middleware(RequestIdMiddleware)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
                expose_headers=["X-Request-ID", "Retry-After"],
            )
        )
    return Starlette(
        routes=[
            *health.routes,
            *auth.routes,
            *me.routes,
            *moods.routes,
            *hugs.routes,
            *social.routes,
            *catalog.routes,
            *admin_catalog.routes,
            *devices.routes,
            *group_hugs.routes,
        ],
        middleware=middleware,
        exception_handlers={
            AppError: on_app_error,
            HTTPException: on_http_error,
            **dict.fromkeys(DATABASE_DOWN + REDIS_DOWN + NETWORK_DOWN, on_outage),
            Exception: on_unexpected,
        },
        lifespan=lifespan,
    )
