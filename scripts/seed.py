"""Demo data for a development database (idempotent), run by `make run`.

Creates the demo accounts `alice`, `bob` (friends: they follow each other) and `admin`, all
with password `hugmood-demo`, and the demo catalog (`hugmood/catalog/demo.json`, loaded as
`admin`), through the domain's own functions. Refuses to run with
HUGMOOD_ENV=production.
"""

from __future__ import annotations

import asyncio

from hugmood.catalog import demo
from hugmood.core.settings import Settings
from hugmood.identity.passwords import hash_password
from hugmood.identity.users import insert_user, user_id_by_username
from hugmood.social import graph
from workers.main import open_services

DEMO_PASSWORD = "hugmood-demo"
DEMO_USERS = (("alice", "user"), ("bob", "user"), ("admin", "admin"))
FRIENDS = ("alice", "bob")


async def seed(settings: Settings) -> None:
    if settings.production:
        raise SystemExit("refusing to seed demo data in production")
    password_hash = await hash_password(DEMO_PASSWORD)
    services = await open_services(settings)
    ctx = services.ctx
    try:
        ids = {}
        async with ctx.db.acquire() as conn, conn.transaction():
            for username, role in DEMO_USERS:
                ids[username] = await user_id_by_username(conn, username)
                if ids[username] is None:
                    user = await insert_user(
                        conn,
                        username=username,
                        email=f"{username}@demo.hugmood.test",
                        password_hash=password_hash,
                        role=role,
                        display_name=username.title(),
                    )
                    ids[username] = user.id
        a, b = (ids[name] for name in FRIENDS)
        await graph.follow(ctx, a, b)
        await graph.follow(ctx, b, a)
        added = await demo.load(ctx, ids["admin"])
    finally:
        await services.close()
    print(
        f"seeded demo accounts {', '.join(u for u, _ in DEMO_USERS)} (password {DEMO_PASSWORD!r})"
        f" and {added} new demo fragrances"
    )


if __name__ == "__main__":
    asyncio.run(seed(Settings.from_env()))
