"""One frozen settings object, read once from the environment (12-factor).

Everything configurable lives here with its default and unit; the domain receives a `Settings`
and never reads `os.environ` itself. `Settings.from_env()` refuses to build a production config
that still carries development defaults, so a forgotten secret fails at start, not in an incident.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Environment = Literal["development", "test", "production"]

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"
MIN_PRODUCTION_SECRET_CHARS = 32


@dataclass(frozen=True, slots=True)
class Rate:
    """A rate limit: at most `limit` hits per `window_secs`; written "limit/window_secs"."""

    limit: int
    window_secs: int

    @classmethod
    def parse(cls, name: str, text: str) -> Rate:
        try:
            limit, window = (int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(
                f"{name} must look like '10/60' (hits/seconds), got {text!r}"
            ) from None
        if limit < 1 or window < 1:
            raise ValueError(f"{name} must be positive, got {text!r}")
        return cls(limit, window)


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    redis_url: str
    environment: Environment = "development"
    jwt_secret: str = DEV_JWT_SECRET
    access_token_ttl_secs: int = 15 * 60
    refresh_token_ttl_secs: int = 30 * 24 * 3600
    # Phones fire concurrent requests with one refresh token: presenting a token rotated less
    # than this long ago returns the same new pair; later reuse is theft and ends the session.
    refresh_reuse_grace_secs: int = 10
    # A live connection outlives its access token by this much at most: time for the client to
    # refresh it over the socket (`auth:refresh`) after a late wake-up; then `token_expired`.
    token_grace_secs: int = 30
    cors_origins: tuple[str, ...] = ()
    # Namespaces every Redis key and pub/sub channel, so deployments (and test runs) can share
    # one Redis without seeing each other's data.
    redis_prefix: str = "hugmood"
    db_pool_min: int = 2
    db_pool_max: int = 20
    # python-socketio's default redis-py pool is unbounded-then-failing at 100 connections and
    # silently drops messages; the process's one pool (core.redis_client) blocks for a free
    # connection instead.
    redis_pool_max: int = 64
    rate_login_ip: Rate = field(default_factory=lambda: Rate(30, 60))
    rate_login_account: Rate = field(default_factory=lambda: Rate(10, 15 * 60))
    rate_register_ip: Rate = field(default_factory=lambda: Rate(10, 3600))
    rate_anonymous_ip: Rate = field(default_factory=lambda: Rate(10, 3600))
    rate_refresh_ip: Rate = field(default_factory=lambda: Rate(60, 60))
    # Per user: every socket event (flood guard), hugs sent, hug requests.
    rate_socket_events: Rate = field(default_factory=lambda: Rate(600, 60))
    rate_hug_send: Rate = field(default_factory=lambda: Rate(60, 60))
    rate_hug_request: Rate = field(default_factory=lambda: Rate(10, 600))
    # Group hug squeezes per user: a finger tapping as fast as it can is about 10 a second.
    rate_group_squeeze: Rate = field(default_factory=lambda: Rate(20, 1))
    # How long durable events stay replayable by `sync`; older ones answer `recovered: false`.
    inbox_retention_secs: int = 30 * 24 * 3600
    # A connection's presence entry lives this long unless its process refreshes it (every
    # third of it): 90 s = three missed 30 s heartbeats before a dead process's users go offline.
    presence_ttl_secs: int = 90
    # Losing the last connection is announced only after this, so a reconnect never flaps.
    presence_grace_secs: int = 10
    # Engine.IO pings: every 25 s (under the 30 s idle timeout of common load balancers); a
    # client that has not answered 20 s later is dropped.
    ping_interval_secs: int = 25
    ping_timeout_secs: int = 20
    max_body_bytes: int = 64 * 1024
    log_level: str = "INFO"
    # Push (hugmood.notify). An event is judged this long after it was written, so a phone that
    # is reconnecting gets it on the socket instead of a buzz.
    push_grace_secs: float = 10
    # Requests in flight per provider (sygnal's cap); more wait their turn.
    push_max_in_flight: int = 512
    push_max_attempts: int = 5  # per push, first try included; 429 / 5xx only are retried
    push_retry_base_secs: float = 1  # backoff: base * 2^(try-1), +/- 50 % jitter, capped at 5 min
    push_ttl_secs: int = 24 * 3600  # how long a provider keeps trying to reach the phone
    outbox_poll_secs: float = 0.2  # how often a worker relays committed intents into jobs
    worker_max_jobs: int = 1000  # jobs one worker runs at once (pushes mostly wait on I/O)
    # Group hugs: `group_hug.started` goes out this long before `starts_at`, time for every
    # phone to hear it and schedule the start on its synchronized clock.
    group_hug_lead_secs: float = 2
    # Pulses per second per active group hug, however many participants squeeze.
    group_hug_pulse_hz: float = 10
    # APNs token auth (.p8 key from the Apple developer account: its PEM text or a file path).
    apns_key: str = ""
    apns_key_file: str = ""
    apns_key_id: str = ""
    apns_team_id: str = ""
    apns_topic: str = ""  # the app's bundle id
    apns_sandbox: bool = False
    apns_endpoint: str = ""  # host:port instead of Apple's (a proxy, or a test's fake)
    apns_ca_file: str = ""  # extra CA certificate to trust for that endpoint
    # FCM HTTP v1: the service-account JSON itself or a path to it.
    fcm_credentials: str = ""
    fcm_credentials_file: str = ""
    fcm_endpoint: str = ""  # base URL instead of https://fcm.googleapis.com

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not env.get(name)]
        if missing:
            raise ValueError(
                f"{' and '.join(missing)} must be set (`make run` starts development servers)"
            )
        environment = env.get("HUGMOOD_ENV", "development")
        if environment not in ("development", "test", "production"):
            raise ValueError(
                f"HUGMOOD_ENV must be development, test or production: {environment!r}"
            )

        def rate(name: str, default: Rate) -> Rate:
            return Rate.parse(name, env[name]) if name in env else default

        defaults = cls(database_url="", redis_url="")
        settings = cls(
            database_url=env["DATABASE_URL"],
            redis_url=env["REDIS_URL"],
            environment=environment,  # type: ignore[arg-type]
            jwt_secret=env.get("JWT_SECRET", DEV_JWT_SECRET),
            access_token_ttl_secs=int(
                env.get("ACCESS_TOKEN_TTL_SECS", defaults.access_token_ttl_secs)
            ),
            refresh_token_ttl_secs=int(
                env.get("REFRESH_TOKEN_TTL_SECS", defaults.refresh_token_ttl_secs)
            ),
            refresh_reuse_grace_secs=int(
                env.get("REFRESH_REUSE_GRACE_SECS", defaults.refresh_reuse_grace_secs)
            ),
            cors_origins=tuple(
                o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()
            ),
            redis_prefix=env.get("REDIS_PREFIX", defaults.redis_prefix),
            db_pool_min=int(env.get("DB_POOL_MIN", defaults.db_pool_min)),
            db_pool_max=int(env.get("DB_POOL_MAX", defaults.db_pool_max)),
            redis_pool_max=int(env.get("REDIS_POOL_MAX", defaults.redis_pool_max)),
            rate_login_ip=rate("RATE_LOGIN_IP", defaults.rate_login_ip),
            rate_login_account=rate("RATE_LOGIN_ACCOUNT", defaults.rate_login_account),
            rate_register_ip=rate("RATE_REGISTER_IP", defaults.rate_register_ip),
            rate_anonymous_ip=rate("RATE_ANONYMOUS_IP", defaults.rate_anonymous_ip),
            rate_refresh_ip=rate("RATE_REFRESH_IP", defaults.rate_refresh_ip),
            rate_socket_events=rate("RATE_SOCKET_EVENTS", defaults.rate_socket_events),
            rate_hug_send=rate("RATE_HUG_SEND", defaults.rate_hug_send),
            rate_hug_request=rate("RATE_HUG_REQUEST", defaults.rate_hug_request),
            rate_group_squeeze=rate("RATE_GROUP_SQUEEZE", defaults.rate_group_squeeze),
            inbox_retention_secs=int(
                env.get("INBOX_RETENTION_SECS", defaults.inbox_retention_secs)
            ),
            presence_ttl_secs=int(env.get("PRESENCE_TTL_SECS", defaults.presence_ttl_secs)),
            presence_grace_secs=int(env.get("PRESENCE_GRACE_SECS", defaults.presence_grace_secs)),
            token_grace_secs=int(env.get("TOKEN_GRACE_SECS", defaults.token_grace_secs)),
            ping_interval_secs=int(env.get("PING_INTERVAL_SECS", defaults.ping_interval_secs)),
            ping_timeout_secs=int(env.get("PING_TIMEOUT_SECS", defaults.ping_timeout_secs)),
            max_body_bytes=int(env.get("MAX_BODY_BYTES", defaults.max_body_bytes)),
            log_level=env.get("LOG_LEVEL", defaults.log_level).upper(),
            push_grace_secs=float(env.get("PUSH_GRACE_SECS", defaults.push_grace_secs)),
            push_max_in_flight=int(env.get("PUSH_MAX_IN_FLIGHT", defaults.push_max_in_flight)),
            push_max_attempts=int(env.get("PUSH_MAX_ATTEMPTS", defaults.push_max_attempts)),
            push_retry_base_secs=float(
                env.get("PUSH_RETRY_BASE_SECS", defaults.push_retry_base_secs)
            ),
            push_ttl_secs=int(env.get("PUSH_TTL_SECS", defaults.push_ttl_secs)),
            outbox_poll_secs=float(env.get("OUTBOX_POLL_SECS", defaults.outbox_poll_secs)),
            worker_max_jobs=int(env.get("WORKER_MAX_JOBS", defaults.worker_max_jobs)),
            group_hug_lead_secs=float(env.get("GROUP_HUG_LEAD_SECS", defaults.group_hug_lead_secs)),
            group_hug_pulse_hz=float(env.get("GROUP_HUG_PULSE_HZ", defaults.group_hug_pulse_hz)),
            apns_key=env.get("APNS_KEY", ""),
            apns_key_file=env.get("APNS_KEY_FILE", ""),
            apns_key_id=env.get("APNS_KEY_ID", ""),
            apns_team_id=env.get("APNS_TEAM_ID", ""),
            apns_topic=env.get("APNS_TOPIC", ""),
            apns_sandbox=env.get("APNS_SANDBOX", "").lower() in ("1", "true", "yes"),
            apns_endpoint=env.get("APNS_ENDPOINT", ""),
            apns_ca_file=env.get("APNS_CA_FILE", ""),
            fcm_credentials=env.get("FCM_CREDENTIALS", ""),
            fcm_credentials_file=env.get("FCM_CREDENTIALS_FILE", ""),
            fcm_endpoint=env.get("FCM_ENDPOINT", "").rstrip("/"),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse configurations that are only safe on a developer's machine."""
        if (
            self.access_token_ttl_secs < 1
            or self.refresh_token_ttl_secs <= self.access_token_ttl_secs
        ):
            raise ValueError("token lifetimes: 0 < ACCESS_TOKEN_TTL_SECS < REFRESH_TOKEN_TTL_SECS")
        # A replayed pair carries the access token issued at rotation: a grace as long as its
        # lifetime would hand out tokens that are already expired.
        if not 0 <= self.refresh_reuse_grace_secs < self.access_token_ttl_secs:
            raise ValueError(
                "REFRESH_REUSE_GRACE_SECS must be >= 0 and shorter than ACCESS_TOKEN_TTL_SECS"
            )
        if self.token_grace_secs < 0:
            raise ValueError("TOKEN_GRACE_SECS must be >= 0")
        if self.presence_ttl_secs < 3 or self.presence_grace_secs < 0:
            raise ValueError("PRESENCE_TTL_SECS must be >= 3 and PRESENCE_GRACE_SECS >= 0")
        if self.ping_interval_secs < 1 or self.ping_timeout_secs < 1:
            raise ValueError("PING_INTERVAL_SECS and PING_TIMEOUT_SECS must be >= 1")
        if self.db_pool_min < 1 or self.db_pool_max < self.db_pool_min or self.redis_pool_max < 4:
            raise ValueError("pool sizes: 1 <= DB_POOL_MIN <= DB_POOL_MAX and REDIS_POOL_MAX >= 4")
        if (
            self.push_grace_secs < 0
            or self.push_max_in_flight < 1
            or self.push_max_attempts < 1
            or self.push_retry_base_secs <= 0
            or self.push_ttl_secs < 0
            or self.outbox_poll_secs <= 0
            or self.worker_max_jobs < 1
        ):
            raise ValueError(
                "push: PUSH_GRACE_SECS >= 0, PUSH_TTL_SECS >= 0, PUSH_MAX_IN_FLIGHT, "
                "PUSH_MAX_ATTEMPTS and WORKER_MAX_JOBS >= 1, PUSH_RETRY_BASE_SECS and "
                "OUTBOX_POLL_SECS > 0"
            )
        if not 0 <= self.group_hug_lead_secs <= 60 or not 0.5 <= self.group_hug_pulse_hz <= 100:
            raise ValueError("GROUP_HUG_LEAD_SECS must be 0..60 and GROUP_HUG_PULSE_HZ 0.5..100")
        if self.production:
            if (
                self.jwt_secret == DEV_JWT_SECRET
                or len(self.jwt_secret) < MIN_PRODUCTION_SECRET_CHARS
            ):
                raise ValueError(
                    f"production needs JWT_SECRET set to a random value of at least "
                    f"{MIN_PRODUCTION_SECRET_CHARS} characters"
                )
            if "*" in self.cors_origins:
                raise ValueError("production refuses CORS_ORIGINS='*': list the allowed origins")
