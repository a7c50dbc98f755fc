"""The web process: one ASGI app serving Socket.IO at /socket.io and REST everywhere else."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import socketio
from starlette.applications import Starlette

from hugmood.core import logs
from hugmood.core.redis_client import create_client
from hugmood.core.settings import Settings
from hugmood.services import Services
from realtime.server import RealtimeServer
from realtime.transport.manager import SocketIOPublisher
from realtime.upkeep import keep_connections, keep_presence
from rest.app import create_rest_app

# Every delivery allocates short-lived containers; with CPython's default gen-0 threshold (700)
# the cyclic collector ran for 38-64 % of fan-out wall time while freeing nothing (profile in
# docs/benchmarks.md). Reference counting frees these objects; cycles are rare, so collect
# young objects far less often.
GC_THRESHOLDS = (100_000, 50, 1000)


def tune_gc() -> None:
    """Collect once, move everything alive after start-up out of the collector's sight (it lives
    as long as the process), then raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(settings: Settings | None = None) -> socketio.ASGIApp:
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    redis = create_client(settings)  # the process's one Redis pool
    realtime = RealtimeServer(settings, redis)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = await Services.open(settings, redis, SocketIOPublisher(realtime.sio))
        app.state.services = realtime.started = services
        tune_gc()
        # Two loops: the presence heartbeat never waits behind PostgreSQL (sweeps, sessions).
        upkeep = [
            asyncio.create_task(keep_presence(realtime)),
            asyncio.create_task(keep_connections(realtime)),
        ]
        try:
            yield
        finally:
            await realtime.sio.shutdown()
            for task in upkeep:
                task.cancel()
            await services.close()

    return socketio.ASGIApp(realtime.sio, other_asgi_app=create_rest_app(settings, lifespan))
