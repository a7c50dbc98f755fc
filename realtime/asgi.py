"""The web process: one ASGI app serving Socket.IO at /socket.io and REST everywhere else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import socketio
from starlette.applications import Starlette

from hugmood import logs
from hugmood.context import Context
from hugmood.settings import Settings
from realtime.manager import SocketIOPublisher
from realtime.server import RealtimeServer
from rest.app import create_rest_app


def create_app(settings: Settings | None = None) -> socketio.ASGIApp:
    settings = settings or Settings.from_env()
    logs.configure(settings.log_level)
    realtime = RealtimeServer(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ctx = await Context.open(settings, SocketIOPublisher(realtime.sio))
        app.state.ctx = realtime.ctx = ctx
        upkeep = asyncio.create_task(realtime.keep_presence())
        try:
            yield
        finally:
            await realtime.sio.shutdown()
            upkeep.cancel()
            await ctx.close()

    return socketio.ASGIApp(realtime.sio, other_asgi_app=create_rest_app(settings, lifespan))
