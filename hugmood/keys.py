"""Every Redis key and pub/sub channel, in one place, with its lifetime and why.

All names start with `Settings.redis_prefix`, so deployments and test runs can share a Redis
server without seeing each other's data. Pub/sub channels ignore the database number, which is
why the prefix (not `/db`) is what isolates them.
"""

from __future__ import annotations


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @property
    def socketio_channel(self) -> str:
        """Pub/sub channel joining every web process and worker emitter (python-socketio)."""
        return f"{self.prefix}:socketio"

    @property
    def arq_queue(self) -> str:
        """arq job queue (sorted set) and the prefix of its job keys."""
        return f"{self.prefix}:arq:queue"

    def rate(self, bucket: str, subject: str, window_start: int) -> str:
        """Fixed-window counter; expires with its window (TTL = window length)."""
        return f"{self.prefix}:rate:{bucket}:{subject}:{window_start}"

    def revoked_session(self, session_id: str) -> str:
        """Marks a logged-out or compromised session; kept for the access-token lifetime, after
        which no access token of that session can still be valid anyway."""
        return f"{self.prefix}:revoked:{session_id}"
