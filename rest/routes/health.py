"""Probes for load balancers and orchestrators: alive (`/health`) and able to serve (`/ready`)."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rest.http import json_response, services

READY_TIMEOUT_SECS = 2  # a probe must answer fast even when a dependency hangs


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def ready(request: Request) -> Response:
    context = services(request).ctx
    checks = {"postgres": context.db.fetchval("SELECT 1"), "redis": context.redis.ping()}
    results = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, READY_TIMEOUT_SECS)
            results[name] = "ok"
        except Exception as exc:  # any failure means not ready; say which and why
            results[name] = f"error: {type(exc).__name__}"
    ok = all(value == "ok" for value in results.values())
    return json_response(
        {"status": "ok" if ok else "unavailable", "checks": results}, 200 if ok else 503
    )


routes = [Route("/health", health, methods=["GET"]), Route("/ready", ready, methods=["GET"])]
