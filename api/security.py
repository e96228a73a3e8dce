"""Who is calling: the caller identity and the role check every protected endpoint uses.

Without an auth file (the default) the service is open, as it always was: every caller
is `anonymous` and holds every role. The authentication layer (API keys, bearer tokens)
puts the authenticated `Caller` into the ASGI scope under `bup.caller`; endpoints read it
with `caller()` and guard themselves with `require_role(...)`, so the decision log and
the access rules share one notion of who asked. `ACCESS` says which path needs which
role; api/auth.py enforces it for every request and writes it into the OpenAPI document.
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
        if not allowed(who, role):
            raise HTTPException(status_code=403, detail=f"this needs the role {role!r}")
        return who

    return check


# What each path needs once an auth file is configured. A path matches an entry when it
# equals it or continues it with "/". Open paths need nothing; ANY needs an authenticated
# caller with any role; a path not listed needs `admin`, so an endpoint added without an
# entry here is closed rather than open (tests/test_auth.py checks every route is listed).
OPEN = "open"
ANY = "any"
ACCESS: tuple[tuple[str, str], ...] = (
    ("/health", OPEN),
    ("/docs", OPEN),  # Swagger UI, its OAuth2 redirect page
    ("/redoc", OPEN),
    ("/openapi.json", OPEN),  # /docs reads it
    ("/workbench/static", OPEN),  # the page's CSS and JavaScript
    ("/v1/classify", "classify"),  # also /v1/classify/batch and /v1/classify/timeline
    ("/v1/months", "classify"),
    ("/v1/reports", "classify"),
    ("/workbench", "classify"),  # the page's JSON helpers
    ("/v1/decisions", "audit"),
    ("/v1/impact", "audit"),
    ("/v1/ruleset", ANY),
)
# The pages themselves (the prefix "/" would match everything): a browser opens them without a
# header, and they send the key the workbench asked for with every API call they make.
EXACT_OPEN = frozenset({"/", "/workbench/month", "/workbench/impact"})


def declared(path: str) -> str | None:
    """OPEN, ANY or the role of the first entry of ACCESS that `path` falls under (None: not listed)."""
    if path in EXACT_OPEN:
        return OPEN
    for prefix, need in ACCESS:
        if path == prefix or path.startswith(prefix + "/"):
            return need
    return None


def access_for(path: str) -> str:
    """What `path` needs: as declared, else admin (closed rather than open by oversight)."""
    return declared(path) or "admin"


def allowed(who: Caller, need: str) -> bool:
    """Whether `who` may use a path that needs `need` (admin holds every role)."""
    return need in (OPEN, ANY) or need in who.roles or "admin" in who.roles


def caller_name(scope: dict[str, object]) -> str | None:
    """The caller's name for the access log (None before authentication, e.g. on a 401)."""
    who = scope.get(SCOPE_KEY)
    return who.name if isinstance(who, Caller) else None
