"""The one error type of the domain, with a stable machine-readable code.

Transports map it: REST to `{error: {code, message, field}}` with the code's HTTP status, sockets
to the ack `{ok: false, error}`. Anything else that escapes is a bug and surfaces as `internal`
without details.
"""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal[
    "invalid",
    "unauthorized",
    "forbidden",
    "not_found",
    "rate_limited",
    "conflict",
    "unavailable",  # a dependency is down: retry later (safe with the same idempotency key)
    "internal",
]


class AppError(Exception):
    def __init__(
        self,
        code: ErrorCode,
        message: str,
        field: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, str]:
        body = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body
