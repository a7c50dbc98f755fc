"""/me: the caller's own profile and privacy settings."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hugmood.identity import accounts
from hugmood.identity.models import MePatch
from hugmood.identity.users import fetch_user
from hugmood.social import privacy
from hugmood.social.models import Privacy
from rest.http import body, json_response, principal, services


async def get_me(request: Request) -> Response:
    caller = await principal(request)
    return json_response(await fetch_user(services(request).ctx.db, caller.user_id))


async def patch_me(request: Request) -> Response:
    caller = await principal(request)
    patch = await body(request, MePatch)
    return json_response(
        await accounts.update_profile(services(request).ctx, caller.user_id, patch)
    )


async def get_privacy(request: Request) -> Response:
    caller = await principal(request)
    return json_response(await privacy.get(services(request).ctx, caller.user_id))


async def put_privacy(request: Request) -> Response:
    caller = await principal(request)
    settings = await body(request, Privacy)
    return json_response(await privacy.put(services(request).ctx, caller.user_id, settings))


routes = [
    Route("/me", get_me, methods=["GET"]),
    Route("/me", patch_me, methods=["PATCH"]),
    Route("/me/privacy", get_privacy, methods=["GET"]),
    Route("/me/privacy", put_privacy, methods=["PUT"]),
]
