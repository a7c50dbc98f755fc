"""/auth: register, login, anonymous session, refresh (rotation), logout."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hugmood.identity import accounts, sessions
from hugmood.identity.models import LoginIn, RefreshIn, RegisterIn
from rest.http import body, client_ip, json_response, principal, services


async def register(request: Request) -> Response:
    data = await body(request, RegisterIn)
    svc = services(request)
    session = await accounts.register(svc.ctx, svc.limiter, data, client_ip(request))
    return json_response(session, 201)


async def login(request: Request) -> Response:
    data = await body(request, LoginIn)
    svc = services(request)
    return json_response(await accounts.login(svc.ctx, svc.limiter, data, client_ip(request)))


async def anonymous(request: Request) -> Response:
    svc = services(request)
    session = await accounts.register_anonymous(svc.ctx, svc.limiter, client_ip(request))
    return json_response(session, 201)


async def refresh(request: Request) -> Response:
    data = await body(request, RefreshIn)
    svc = services(request)
    session = await sessions.rotate(svc.ctx, svc.limiter, data.refresh_token, client_ip(request))
    return json_response(session)


async def logout(request: Request) -> Response:
    await sessions.end(services(request).ctx, await principal(request))
    return Response(status_code=204)


routes = [
    Route("/auth/register", register, methods=["POST"]),
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/anonymous", anonymous, methods=["POST"]),
    Route("/auth/refresh", refresh, methods=["POST"]),
    Route("/auth/logout", logout, methods=["POST"]),
]
