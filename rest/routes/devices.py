"""/devices (push tokens of the caller's app installs) and /me/notifications (what to push)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hugmood.core.structs import PageQuery
from hugmood.notify import devices, preferences
from hugmood.notify.models import DeviceRegister, NotificationSettings
from rest.http import body, json_response, principal, query, services


async def register_device(request: Request) -> Response:
    caller = await principal(request)
    device = await devices.register(
        services(request).ctx, caller.user_id, await body(request, DeviceRegister)
    )
    return json_response(device, 201)


async def list_devices(request: Request) -> Response:
    caller = await principal(request)
    page = await devices.list_devices(
        services(request).ctx, caller.user_id, query(request, PageQuery)
    )
    return json_response(page)


async def unregister_device(request: Request) -> Response:
    caller = await principal(request)
    await devices.unregister(services(request).ctx, caller.user_id, request.path_params["token"])
    return Response(status_code=204)


async def get_notifications(request: Request) -> Response:
    caller = await principal(request)
    return json_response(await preferences.get(services(request).ctx, caller.user_id))


async def put_notifications(request: Request) -> Response:
    caller = await principal(request)
    wanted = await body(request, NotificationSettings)
    return json_response(await preferences.put(services(request).ctx, caller.user_id, wanted))


routes = [
    Route("/devices", register_device, methods=["POST"]),
    Route("/devices", list_devices, methods=["GET"]),
    Route("/devices/{token}", unregister_device, methods=["DELETE"]),
    Route("/me/notifications", get_notifications, methods=["GET"]),
    Route("/me/notifications", put_notifications, methods=["PUT"]),
]
