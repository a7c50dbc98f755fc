"""Password hashing with argon2id (OWASP-recommended parameters, argon2-cffi defaults).

Hashing costs tens of milliseconds of CPU by design, so it runs in a thread to keep the event loop
(and every live socket on it) responsive during a login burst.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the account does not exist, so "no such user" and "wrong password" take
# the same time and a login attempt cannot probe which usernames exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)
