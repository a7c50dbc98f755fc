"""`python -m hugmood.seed`: demo data for a development database (idempotent).

Creates the demo accounts `alice`, `bob` (friends) and `admin`, all with password
`hugmood-demo`. Refuses to run with HUGMOOD_ENV=production.
"""

from __future__ import annotations

import asyncio

import asyncpg

from hugmood.passwords import hash_password
from hugmood.settings import Settings

DEMO_PASSWORD = "hugmood-demo"
DEMO_USERS = (("alice", "user"), ("bob", "user"), ("admin", "admin"))


async def seed(settings: Settings) -> None:
    if settings.production:
        raise SystemExit("refusing to seed demo data in production")
    password_hash = await hash_password(DEMO_PASSWORD)
    conn = await asyncpg.connect(settings.database_url)
    try:
        async with conn.transaction():
            for username, role in DEMO_USERS:
                await conn.execute(
                    "INSERT INTO users (username, email, password_hash, role, display_name) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    username,
                    f"{username}@demo.hugmood.test",
                    password_hash,
                    role,
                    username.title(),
                )
            await conn.execute(
                "INSERT INTO privacy_settings (user_id) SELECT id FROM users ON CONFLICT DO NOTHING"
            )
            await conn.execute(
                "INSERT INTO follows (follower_id, following_id) "
                "SELECT a.id, b.id FROM users a, users b "
                "WHERE a.username IN ('alice', 'bob') AND b.username IN ('alice', 'bob') "
                "AND a.id <> b.id ON CONFLICT DO NOTHING"
            )
    finally:
        await conn.close()
    print(
        f"seeded demo accounts {', '.join(u for u, _ in DEMO_USERS)} (password {DEMO_PASSWORD!r})"
    )


if __name__ == "__main__":
    asyncio.run(seed(Settings.from_env()))
