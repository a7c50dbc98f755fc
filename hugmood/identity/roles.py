"""Who may use the admin tools: the one place that turns a caller's role into a permission.

The role comes from the access token (`users.role` when it was issued), so a promotion or a
demotion takes effect at the next login or refresh. Later work adds `moderator` here: the
routes call `require_admin` / `require_role` and never compare role strings themselves.
"""

from __future__ import annotations

from hugmood.core.errors import AppError
from hugmood.identity.models import Principal

ADMIN = "admin"


def require_role(principal: Principal, *roles: str) -> Principal:
    """`principal` if its role is one of `roles`, else `forbidden`."""
    if principal.role not in roles:
        raise AppError("forbidden", f"this needs the {' or '.join(roles)} role")
    return principal


def require_admin(principal: Principal) -> Principal:
    return require_role(principal, ADMIN)
