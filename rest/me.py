"""/me: the caller's own profile and privacy settings."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hugmood import accounts, privacy
from hugmood.models import MePatch, Privacy
from hugmood.users import fetch_user
from rest.http import body, ctx, json_response, principal


async def get_me(request: Request) -> Response:
    caller = await principal(request)
    return json_response(await fetch_user(ctx(request).db, caller.user_id))


async def patch_me(request: Request) -> Response:
    caller = await principal(request)
    patch = await body(request, MePatch)
    return json_response(await accounts.update_profile(ctx(request), caller.user_id, patch))


async def get_privacy(request: Request) -> Response:
    caller = await principal(request)
    return json_response(await privacy.get(ctx(request), caller.user_id))


async def put_privacy(request: Request) -> Response:
    caller = await principal(request)
    settings = await body(request, Privacy)
    return json_response(await privacy.put(ctx(request), caller.user_id, settings))


routes = [
    Route("/me", get_me, methods=["GET"]),
    Route("/me", patch_me, methods=["PATCH"]),
    Route("/me/privacy", get_privacy, methods=["GET"]),
    Route("/me/privacy", put_privacy, methods=["PUT"]),
]
