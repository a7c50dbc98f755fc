"""/auth: register, login, anonymous session, refresh (rotation), logout."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hugmood import accounts, sessions
from hugmood.models import LoginIn, RefreshIn, RegisterIn
from rest.http import body, client_ip, ctx, json_response, principal


async def register(request: Request) -> Response:
    data = await body(request, RegisterIn)
    return json_response(await accounts.register(ctx(request), data, client_ip(request)), 201)


async def login(request: Request) -> Response:
    data = await body(request, LoginIn)
    return json_response(await accounts.login(ctx(request), data, client_ip(request)))


async def anonymous(request: Request) -> Response:
    return json_response(await accounts.register_anonymous(ctx(request), client_ip(request)), 201)


async def refresh(request: Request) -> Response:
    data = await body(request, RefreshIn)
    session = await sessions.rotate(ctx(request), data.refresh_token, client_ip(request))
    return json_response(session)


async def logout(request: Request) -> Response:
    await sessions.end(ctx(request), await principal(request))
    return Response(status_code=204)


routes = [
    Route("/auth/register", register, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/anonymous", anonymous, methods=["POST"]),
    Route("/auth/refresh", refresh, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
]
