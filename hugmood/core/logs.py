"""Structured JSON logs, one object per line, tagged with the current request/connection id.

The id lives in a context variable set by the transports (HTTP middleware, socket handlers), so
domain code logs normally and every line can still be traced back to the request that caused it.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar

import msgspec

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}
_encoder = msgspec.json.Encoder(enc_hook=str)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid is not None:
            entry["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return _encoder.encode(entry).decode()


def configure(level: str) -> None:
    """Route every logger (ours, uvicorn's, arq's, python-socketio's) through one JSON handler."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "arq", "socketio", "engineio"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # rest.middleware writes the access log, with the request id and timing.
    logging.getLogger("uvicorn.access").disabled = True
