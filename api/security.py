"""Who is calling: the caller identity and the role check every protected endpoint uses.

Without an auth file (the default) the service is open, as it always was: every caller
is `anonymous` and holds every role. The authentication layer (API keys, bearer tokens)
puts the authenticated `Caller` into the ASGI scope under `bup.caller`; endpoints read it
with `caller()` and guard themselves with `require_role(...)`, so the decision log and
the access rules share one notion of who asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request

ROLES = ("classify", "audit", "admin")
SCOPE_KEY = "bup.caller"


@dataclass(frozen=True)
class Caller:
    """An authenticated client: its name (never a person's identity) and its roles."""

    name: str
    roles: frozenset[str]


ANONYMOUS = Caller("anonymous", frozenset(ROLES))


def caller(request: Request) -> Caller:
    """The caller of this request (`anonymous` with every role when auth is off)."""
    return request.scope.get(SCOPE_KEY, ANONYMOUS)


def require_role(role: str) -> Callable[[Request], Caller]:
    """A FastAPI dependency: 403 unless the caller holds `role` (admin holds every role)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")

    def check(request: Request) -> Caller:
        who = caller(request)
        if role not in who.roles and "admin" not in who.roles:
            raise HTTPException(status_code=403, detail=f"this needs the role {role!r}")
        return who

    return check
