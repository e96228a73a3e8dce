"""Who is calling: the caller identity and the role check every protected endpoint uses.

Without an auth file (the default) the service is open, as it always was: every caller
is `anonymous` and holds every role. The authentication layer (API keys, bearer tokens)
puts the authenticated `Caller` into the ASGI scope under `bup.caller`; endpoints read it
with `caller()` and guard themselves with `require_role(...)`, so the decision log and
the access rules share one notion of who asked. `ACCESS` says which path needs which
role; api/auth.py enforces it for every request and writes it into the OpenAPI document.

`IdentityGuard` keeps identity numbers out of everything a request carries besides its
body (docs/privacy.md): the URL path, the query string and every header are read before
routing, and one holding an identity number is answered 422 naming the place, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import HTTPException, Request

from api.server import REQUEST_ID
from classifier.errors import with_swedish
from classifier.privacy import MESSAGE, looks_like_identity_number, maybe_holds_identity_number

ROLES = ("classify", "audit", "national", "admin")
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
    ("/v1/national", "national"),  # the national store of deliveries, completeness, notices, assessment
    ("/v1/ruleset", ANY),
)
# The pages themselves (the prefix "/" would match everything): a browser opens them without a
# header, and they send the key the workbench asked for with every API call they make.
EXACT_OPEN = frozenset({"/", "/workbench/month", "/workbench/impact", "/workbench/national"})


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


# ---- identity numbers outside the body ------------------------------------------------------


def _text(raw: bytes) -> str:
    """Header or query bytes as text: UTF-8 (how clients send non-ASCII), else Latin-1 (RFC 9110)."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _holds(raw: bytes) -> bool:
    return maybe_holds_identity_number(raw) and looks_like_identity_number(_text(raw))


# W3C trace context: a well-formed traceparent holds only the random hex ids tracing libraries draw (about one in
# 280 has twelve decimal digits in a row shaped like an identity number). The service never logs, echoes or stores
# it, so such a header is not refused; any other spelling of a traceparent is checked like every header.
_TRACEPARENT = re.compile(rb"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def identity_number_place(scope: dict[str, Any]) -> str | None:
    """Where a request's path, query string or headers hold an identity number (`path`,
    `query parameter 'from'`, `header 'x-request-id'`...), or None. The body is read by the endpoints.

    Runs on every request: all of it is tested at once with the cheap pre-filter (joined by `|`,
    which is not a separator, so no digits run from one part into the next) and only a request
    that passes it is read part by part.
    """
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    path: str = scope["path"]  # already percent-decoded by the server
    everything = b"|".join([path.encode("utf-8", "surrogateescape"), scope.get("query_string") or b"",
                             *(v for _, v in headers), *(k for k, _ in headers)])
    if not maybe_holds_identity_number(everything):
        return None
    if looks_like_identity_number(path):
        return "path"
    query: bytes = scope.get("query_string") or b""
    if _holds(query):
        for name, value in parse_qsl(_text(query), keep_blank_values=True):
            if looks_like_identity_number(name):
                return "query string (a parameter's name)"
            if looks_like_identity_number(value):
                return f"query parameter {name[:40]!r}"
        return "query string"
    for name, value in headers:
        if name == b"traceparent" and _TRACEPARENT.fullmatch(value):
            continue
        if _holds(value):
            return f"header {_text(name)[:40]!r}"
        if _holds(name):
            return "header (a header's name)"
    return None


class IdentityGuard:
    """Pure ASGI, before routing: 422 when the URL path, the query string or a header holds an identity number.

    So no endpoint, error message or log line ever sees one there: a 404 cannot echo a path,
    a query's 422 cannot echo its value, and an X-Request-ID holding one is neither kept
    nor sent back (api/app.py's AccessLog has already replaced it with a fresh id).
    """

    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        place = identity_number_place(scope) if scope["type"] == "http" else None
        if place is None:
            await self.app(scope, receive, send)
            return
        body = orjson.dumps({"detail": "invalid request: 1 problem(s)",
                             "errors": with_swedish([{"path": place, "message": MESSAGE, "type": "identity_number"}]),
                             "request_id": REQUEST_ID.get()})
        await send({"type": "http.response.start", "status": 422, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
