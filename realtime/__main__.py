"""`python -m realtime`: run the web process under uvicorn with our JSON logging.

Graceful shutdown: on SIGTERM uvicorn stops accepting, lets in-flight requests finish for up to
`--graceful-secs`, then the lifespan closes Socket.IO and the pools.
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from realtime.server import MAX_MESSAGE_BYTES
from realtime.transport.wire import ClientWebSocket


def main() -> None:
    parser = argparse.ArgumentParser(description="HugMood web process (REST + Socket.IO)")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--graceful-secs", type=int, default=10)
    args = parser.parse_args()
    uvicorn.run(
        "realtime.asgi:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_config=None,  # hugmood.core.logs configures JSON logging in create_app
        access_log=False,  # rest.middleware writes one JSON line per request
        proxy_headers=True,  # trusted only from FORWARDED_ALLOW_IPS (default 127.0.0.1)
        timeout_graceful_shutdown=args.graceful_secs,
        # uvicorn's websockets-sansio protocol: realtime/transport/wire.py writes to its
        # transport directly, and answers text that is not UTF-8 without a traceback.
        ws=ClientWebSocket,
        # Refuse oversized frames in the protocol layer, before they are buffered whole.
        ws_max_size=MAX_MESSAGE_BYTES,
        # Engine.IO pings already detect dead peers; a second, websocket-level ping is waste.
        ws_ping_interval=None,
        # Compression would cost a zlib context per connection (tens of KB) and CPU per frame,
        # for payloads of a few hundred bytes.
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
