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
        """arq job queue (sorted set); its health-check key is this name + `:health-check`."""
        return f"{self.prefix}:arq:queue"

    def arq_job(self, name: str) -> str:
        """A job name or id as arq stores it: arq's own key prefixes (`arq:job:`,
        `arq:result:`, `arq:in-progress:`) are fixed, so the deployment's prefix goes into the
        id. Cron jobs are unique per name and run time: without it, two deployments sharing a
        Redis would each think the other's hourly purge was theirs."""
        return f"{self.prefix}:{name}"

    def rate(self, bucket: str, subject: str, window_start: int) -> str:
        """Fixed-window counter; expires with its window (TTL = window length)."""
        return f"{self.prefix}:rate:{bucket}:{subject}:{window_start}"

    def presence_conns(self, user_id: object) -> str:
        """Sorted set sid -> expiry (epoch secs) of a user's live connections; a dead process's
        entries simply pass their expiry. Key TTL 2 x PRESENCE_TTL_SECS so idle users leave
        nothing behind."""
        return f"{self.prefix}:presence:{user_id}:conns"

    def presence_statuses(self, user_id: object) -> str:
        """Hash sid -> status (online / away / dnd) chosen on that connection; same TTL."""
        return f"{self.prefix}:presence:{user_id}:status"

    def presence_announced(self, user_id: object) -> str:
        """The status last announced for the user (what snapshots report); 30 days."""
        return f"{self.prefix}:presence:{user_id}:announced"

    def presence_active(self, user_id: object) -> str:
        """When that status was announced (epoch seconds): the user's last activity; 30 days."""
        return f"{self.prefix}:presence:{user_id}:active"

    def presence_audience(self, user_id: object) -> str:
        """A copy of the user's `show_activity_to`, which the presence script hands back with
        each change so announcing needs no database read. Written only by `social.privacy`
        (deleted before a change commits, set after, versioned); a missing key is read from
        PostgreSQL. `privacy.AUDIENCE_COPY_TTL_SECS` (60 s)."""
        return f"{self.prefix}:presence:{user_id}:audience"

    @property
    def presence_index(self) -> str:
        """Sorted set user -> when their presence must be looked at again (latest connection
        expiry, or the end of the offline grace period); the sweeper reads what is due."""
        return f"{self.prefix}:presence:index"

    def session_state(self, session_id: object) -> str:
        """Cache of one session's row in PostgreSQL (the source of truth), read by every
        authenticated request: the user id while the session is active, `revoked` once it is
        revoked (or if it never existed). Active entries are written only if absent (SET NX) and
        live SESSION_ACTIVE_TTL_SECS, so a reader that saw the session active before a
        revocation can never overwrite the revocation's entry; revoked entries are written
        unconditionally and kept for the access-token lifetime plus leeway, after which no
        access token of that session is still valid. Losing the whole cache (restart, FLUSHALL)
        only costs a database read per session."""
        return f"{self.prefix}:session:{session_id}"

    def graph_changing(self, user_id: object) -> str:
        """Set while a follow/unfollow/block/unblock involving the user is being committed, so
        a connection of theirs that opens meanwhile waits for it instead of seating itself from
        a read of the graph as it was; GRAPH_CHANGE_MAX_MS, in case its process dies."""
        return f"{self.prefix}:graph:{user_id}:changing"

    def group_hug_pulse(self, group_hug_id: object, slot: int) -> str:
        """Hash {count, sum} of one group hug's squeezes in one pulse slot (1 / GROUP_HUG_PULSE_HZ
        seconds), merged by every web process that took some; `:top` beside it is the zset
        user -> strongest squeeze, `:sent` the claim of the one process that emits the pulse.
        PULSE_SLOT_TTL_SECS: a slot is read half a slot after it ends."""
        return f"{self.prefix}:group_hug:{group_hug_id}:pulse:{slot}"

    def push_sent(self, job_id: str) -> str:
        """Set once a push job's provider accepted it (PUSH_SENT_TTL_SECS): a job that runs
        again for the same event and device (its intent relayed twice, arq re-running it after
        a lost result) sends nothing."""
        return f"{self.prefix}:{job_id}:sent"


# A pulse slot is merged right after it ends and read half a slot later; slots are at most 2 s
# (GROUP_HUG_PULSE_HZ >= 0.5), so this outlives every read with room to spare.
PULSE_SLOT_TTL_SECS = 30

# A push is never relayed again after its intent is deleted, which happens seconds after it is
# written; a day covers any re-run with room to spare.
PUSH_SENT_TTL_SECS = 24 * 3600

# How long an "active" session entry is trusted without asking PostgreSQL again. It bounds how
# long a revocation whose cache write failed (Redis unreachable right after the commit) can go
# unseen; one primary-key read per active session per minute is the price.
SESSION_ACTIVE_TTL_SECS = 60
