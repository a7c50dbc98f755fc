"""`Settings.from_env`: what it parses, and the configurations it refuses to build."""

from __future__ import annotations

import dataclasses
import re

import pytest

from hugmood.core.settings import DEV_JWT_SECRET, Rate, Settings

REQUIRED = {"DATABASE_URL": "postgresql://db.test/hugmood", "REDIS_URL": "redis://redis.test/0"}
PRODUCTION = REQUIRED | {"HUGMOOD_ENV": "production", "JWT_SECRET": "s" * 32}


def refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings.from_env(env)


def test_minimal_environment_gives_the_documented_defaults() -> None:
    settings = Settings.from_env(REQUIRED)
    assert settings.database_url == REQUIRED["DATABASE_URL"]
    assert settings.redis_url == REQUIRED["REDIS_URL"]
    assert (settings.environment, settings.production) == ("development", False)
    assert settings.jwt_secret == DEV_JWT_SECRET
    assert settings.cors_origins == ()
    assert settings.rate_login_ip == Rate(30, 60)
    assert settings.rate_login_account == Rate(10, 900)
    assert settings.rate_register_ip == Rate(10, 3600)
    assert settings.rate_refresh_ip == Rate(60, 60)
    assert settings.refresh_reuse_grace_secs == 10
    assert settings.max_body_bytes == 64 * 1024


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "DATABASE_URL and REDIS_URL must be set"),
        ({"REDIS_URL": "redis://r.test"}, "DATABASE_URL must be set"),
        ({"DATABASE_URL": "postgresql://d.test"}, "REDIS_URL must be set"),
        ({"DATABASE_URL": "", "REDIS_URL": "redis://r.test"}, "DATABASE_URL must be set"),
    ],
    ids=["both", "database", "redis", "empty-database"],
)
def test_missing_connection_urls_are_refused(env, message) -> None:
    refused(env, message)


@pytest.mark.parametrize("value", ["prod", "Production", "", "staging"])
def test_unknown_environment_is_refused(value) -> None:
    refused(
        REQUIRED | {"HUGMOOD_ENV": value},
        f"HUGMOOD_ENV must be development, test or production: {value!r}",
    )


SECRET_MESSAGE = "production needs JWT_SECRET set to a random value of at least 32 characters"


@pytest.mark.parametrize(
    "secret",
    [None, DEV_JWT_SECRET, "s" * 31, ""],
    ids=["unset", "dev-default", "31-chars", "empty"],
)
def test_production_refuses_a_default_or_short_jwt_secret(secret) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "JWT_SECRET"}
    if secret is not None:
        env["JWT_SECRET"] = secret
    refused(env, SECRET_MESSAGE)


def test_production_accepts_a_32_character_secret() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert settings.production and settings.jwt_secret == "s" * 32


@pytest.mark.parametrize("environment", ["development", "test"])
def test_development_and_test_accept_the_default_secret_and_any_cors(environment) -> None:
    settings = Settings.from_env(REQUIRED | {"HUGMOOD_ENV": environment, "CORS_ORIGINS": "*"})
    assert settings.jwt_secret == DEV_JWT_SECRET and settings.cors_origins == ("*",)


@pytest.mark.parametrize("origins", ["*", "https://app.example.test, *"])
def test_production_refuses_wildcard_cors(origins) -> None:
    refused(
        PRODUCTION | {"CORS_ORIGINS": origins},
        "production refuses CORS_ORIGINS='*': list the allowed origins",
    )


def test_scalar_values_are_parsed() -> None:
    env = REQUIRED | {
        "HUGMOOD_ENV": "test",
        "ACCESS_TOKEN_TTL_SECS": "60",
        "REFRESH_TOKEN_TTL_SECS": "3600",
        "REFRESH_REUSE_GRACE_SECS": "3",
        "REDIS_PREFIX": "hm-staging",
        "MAX_BODY_BYTES": "1024",
        "LOG_LEVEL": "debug",
    }
    settings = Settings.from_env(env)
    assert (settings.environment, settings.access_token_ttl_secs) == ("test", 60)
    assert (settings.refresh_token_ttl_secs, settings.redis_prefix) == (3600, "hm-staging")
    assert settings.refresh_reuse_grace_secs == 3
    assert (settings.max_body_bytes, settings.log_level) == (1024, "DEBUG")


def test_cors_origins_are_split_on_commas_and_trimmed() -> None:
    env = PRODUCTION | {"CORS_ORIGINS": " https://a.example.test ,https://b.example.test,, ,"}
    settings = Settings.from_env(env)
    assert settings.cors_origins == ("https://a.example.test", "https://b.example.test")


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("RATE_LOGIN_IP", "rate_login_ip"),
        ("RATE_LOGIN_ACCOUNT", "rate_login_account"),
        ("RATE_REGISTER_IP", "rate_register_ip"),
        ("RATE_ANONYMOUS_IP", "rate_anonymous_ip"),
        ("RATE_REFRESH_IP", "rate_refresh_ip"),
    ],
)
def test_rates_are_parsed_as_hits_per_seconds(name, field) -> None:
    settings = Settings.from_env(REQUIRED | {name: "7/45"})
    assert getattr(settings, field) == Rate(limit=7, window_secs=45)
    # The other rates keep their defaults.
    defaults = Settings.from_env(REQUIRED)
    others = {f.name for f in dataclasses.fields(Settings) if f.name.startswith("rate_")} - {field}
    assert all(getattr(settings, other) == getattr(defaults, other) for other in others)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10", "RATE_LOGIN_IP must look like '10/60' (hits/seconds), got '10'"),
        ("a/b", "RATE_LOGIN_IP must look like '10/60' (hits/seconds), got 'a/b'"),
        ("10/60/5", "RATE_LOGIN_IP must look like '10/60' (hits/seconds), got '10/60/5'"),
        ("1.5/60", "RATE_LOGIN_IP must look like '10/60' (hits/seconds), got '1.5/60'"),
        ("", "RATE_LOGIN_IP must look like '10/60' (hits/seconds), got ''"),
        ("0/60", "RATE_LOGIN_IP must be positive, got '0/60'"),
        ("10/0", "RATE_LOGIN_IP must be positive, got '10/0'"),
        ("-1/60", "RATE_LOGIN_IP must be positive, got '-1/60'"),
    ],
)
def test_malformed_rates_are_refused_naming_the_variable(value, message) -> None:
    refused(REQUIRED | {"RATE_LOGIN_IP": value}, message)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ACCESS_TOKEN_TTL_SECS": "0"}, "token lifetimes"),
        ({"ACCESS_TOKEN_TTL_SECS": "600", "REFRESH_TOKEN_TTL_SECS": "600"}, "token lifetimes"),
        ({"DB_POOL_MIN": "0"}, "pool sizes"),
        ({"DB_POOL_MIN": "5", "DB_POOL_MAX": "4"}, "pool sizes"),
        ({"REDIS_POOL_MAX": "3"}, "pool sizes"),
    ],
)
def test_inconsistent_lifetimes_and_pool_sizes_are_refused(env, message) -> None:
    refused(REQUIRED | env, message)


GRACE_MESSAGE = "REFRESH_REUSE_GRACE_SECS must be >= 0 and shorter than ACCESS_TOKEN_TTL_SECS"


@pytest.mark.parametrize(
    "env",
    [
        {"REFRESH_REUSE_GRACE_SECS": "-1"},
        {"REFRESH_REUSE_GRACE_SECS": "900"},  # as long as the default access-token lifetime
        {"ACCESS_TOKEN_TTL_SECS": "10", "REFRESH_REUSE_GRACE_SECS": "30"},
    ],
    ids=["negative", "access-token-lifetime", "longer-than-lifetime"],
)
def test_a_reuse_grace_outside_the_access_token_lifetime_is_refused(env) -> None:
    refused(REQUIRED | env, GRACE_MESSAGE)


@pytest.mark.parametrize(("value", "grace"), [("0", 0), ("899", 899)])
def test_a_reuse_grace_from_zero_to_under_the_access_token_lifetime_is_accepted(
    value, grace
) -> None:
    """0 turns the grace off: every second presentation of a refresh token is a theft."""
    settings = Settings.from_env(REQUIRED | {"REFRESH_REUSE_GRACE_SECS": value})
    assert settings.refresh_reuse_grace_secs == grace


def test_settings_and_rates_are_frozen() -> None:
    settings = Settings.from_env(REQUIRED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.jwt_secret = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.rate_login_ip.limit = 1_000_000  # type: ignore[misc]
    assert isinstance(settings.cors_origins, tuple)
    assert settings.jwt_secret == DEV_JWT_SECRET and settings.rate_login_ip == Rate(30, 60)
