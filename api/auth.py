"""Access control: who may call the service (API keys, OAuth2 bearer tokens), and how often.

Off by default. With an auth file (`serve --auth-file FILE`, or the environment variable
BUP_AUTH_FILE) every path that `api.security.access_for` does not call open needs
credentials: `Authorization: Bearer <API key or JWT>`, `X-API-Key: <API key>`, or (with
mutual TLS) a client certificate the file's `tls_clients` names. The middleware puts the
authenticated `Caller` into the ASGI scope (`bup.caller`), where `require_role` and the
access log find it; it answers 401 (no or bad credentials, with `WWW-Authenticate`), 403
(a role the caller lacks) and 429 (over the caller's request limit, or too many failed
authentications from the client's address, with `Retry-After`) before any body is read.
A client address over its failed-authentication limit gets the 429 before its key is
hashed or its token parsed. The counts are shared by the service's workers (api/ratelimit.py).

API keys are stored as HMAC-SHA256 under a random per-file salt, never in clear. A key is
256 random bits, so guessing it is out of reach however fast the hash is; a slow password
KDF (argon2, scrypt) protects low-entropy secrets and would only add milliseconds to every
request here. The salt keeps a leaked file's hashes from matching any other file's.

The file is YAML (JSON is YAML too); `bup-classifier keys` writes it. It is read again
when it (or its JWKS file) changes, so `keys remove` revokes a key without a restart.
Credentials are never logged; the access log names the caller.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import ipaddress
import logging
import math
import os
import re
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio
import jwt
import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from api.ratelimit import Limiter, window
from api.security import ANY, OPEN, ROLES, SCOPE_KEY, Caller, access_for, allowed
from api.server import PEER_CERT
from classifier.privacy import looks_like_identity_number

ENV_VAR = "BUP_AUTH_FILE"
KEY_PREFIX = "bup_"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,63}$"
ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
Role = Literal["classify", "audit", "national", "admin"]

log = logging.getLogger("bup_classifier")


class AuthFileError(ValueError):
    """The auth file is missing, unreadable or not valid: the message names the field."""


# --- the file ---------------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyEntry(_Strict):
    """One API key: its roles and the HMAC of the key (the key itself is never stored)."""

    roles: list[Role] = Field(min_length=1)
    hmac_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created: str | None = None


class JwtSettings(_Strict):
    """How bearer tokens are checked: where the signing keys are and which claims must hold."""

    jwks_file: str | None = None
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str | list[str] | None = None
    role_claim: str = "roles"  # a list, or a space-separated string such as `scope`; dots reach nested claims
    name_claim: str = "sub"
    algorithms: list[Literal[ASYMMETRIC]] = Field(default=["RS256", "ES256"], min_length=1)  # type: ignore[valid-type]
    leeway_seconds: float = Field(default=0, ge=0, le=300)

    @model_validator(mode="after")
    def _one_source(self) -> JwtSettings:
        if (self.jwks_file is None) == (self.jwks_url is None):
            raise ValueError("expected exactly one of jwks_file and jwks_url")
        if self.jwks_url is not None:
            url = urlsplit(self.jwks_url)
            if url.scheme != "https" and not (url.scheme == "http" and _loopback(url.hostname or "")):
                raise ValueError("expected an https:// jwks_url (http:// only on loopback)")
        return self


class Limit(_Strict):
    """A request limit: at most `burst` requests in any burst/requests_per_second seconds (api/ratelimit.py)."""

    requests_per_second: float = Field(gt=0)
    burst: int = Field(ge=1)


class RateLimits(Limit):
    """The limit every caller gets, and any caller's own."""

    clients: dict[str, Limit] = {}


class FailedAuth(_Strict):
    """Failed authentications a client address may make in `seconds` before it gets 429 without a check."""

    attempts: int = Field(default=20, ge=1)
    seconds: int = Field(default=60, ge=1, le=86400)


class TlsClient(_Strict):
    """The caller a client certificate names (mutual TLS): its name in the log and its roles."""

    name: str
    roles: list[Role] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return check_name(name)


class AuthFile(_Strict):
    """The auth file as written by `bup-classifier keys` and edited by hand for jwt, rate_limit, tls_clients."""

    salt: str = Field(pattern=r"^[0-9a-f]{64}$")
    keys: dict[str, KeyEntry] = {}
    jwt: JwtSettings | None = None
    rate_limit: RateLimits | None = None
    failed_auth: FailedAuth = FailedAuth()
    # By the certificate's subject CN or a subjectAltName (DNS name, URI or e-mail), exactly as written there.
    tls_clients: dict[str, TlsClient] = {}

    @field_validator("keys")
    @classmethod
    def _names(cls, keys: dict[str, KeyEntry]) -> dict[str, KeyEntry]:
        for name in keys:
            check_name(name)
        return keys


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_name(name: str) -> str:
    """A key's name goes into the access log: short, plain, and never an identity number."""
    if not re.match(NAME_PATTERN, name):
        raise ValueError(f"key name {name!r}: expected 1-64 letters, digits or . _ @ : - (starting with a letter "
                         "or digit)")
    if looks_like_identity_number(name):
        raise ValueError("key name looks like a personal identity number; name the client, not a person")
    return name


def read_file(path: Path) -> AuthFile:
    """The auth file, checked; AuthFileError naming the field when it is not valid."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AuthFileError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise AuthFileError(f"{path}: not YAML or JSON ({exc})") from None
    try:
        return AuthFile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '$'}: {e['msg']}" for e in exc.errors())
        raise AuthFileError(f"{path}: {problems}") from None


def write_file(path: Path, doc: AuthFile) -> None:
    """Write the file atomically, readable by its owner only (it holds hashes, never keys)."""
    text = "# bup-classifier auth file: API key hashes (bup-classifier keys), jwt, rate_limit.\n" + yaml.safe_dump(
        doc.model_dump(exclude_none=True), sort_keys=False, allow_unicode=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def editing(path: Path) -> Iterator[dict[str, AuthFile]]:
    """Read (or start) the file under an exclusive lock, yield it to change, write it back."""
    folder = os.open(path.parent, os.O_RDONLY)  # the lock is on the folder: the file itself is replaced
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        doc = read_file(path) if path.exists() else AuthFile(salt=secrets.token_hex(32))
        box = {"doc": doc}
        yield box
        if box["doc"] is not doc:
            write_file(path, box["doc"])
    finally:
        os.close(folder)  # releases the lock


def hash_key(salt: str, key: str) -> str:
    """HMAC-SHA256 of the key under the file's salt (see the module docstring for why not a KDF)."""
    return hmac.new(bytes.fromhex(salt), key.encode("utf-8"), hashlib.sha256).hexdigest()


def add_key(path: Path, name: str, roles: list[str]) -> str:
    """Make a new key for `name` with `roles`, store its hash, and return the key (shown once)."""
    check_name(name)
    for role in roles:
        if role not in ROLES:
            raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with editing(path) as box:
        doc = box["doc"]
        if name in doc.keys:
            raise ValueError(f"a key named {name!r} exists; remove it first (keys remove {name})")
        entry = KeyEntry(roles=sorted(set(roles), key=ROLES.index), hmac_sha256=hash_key(doc.salt, key),
                         created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        box["doc"] = doc.model_copy(update={"keys": {**doc.keys, name: entry}})
    return key


def remove_key(path: Path, name: str) -> None:
    """Delete the key named `name` (a running service stops accepting it within a second)."""
    if not path.exists():
        raise ValueError(f"{path}: no such auth file")
    with editing(path) as box:
        doc = box["doc"]
        if name not in doc.keys:
            raise ValueError(f"no key named {name!r} in {path}")
        box["doc"] = doc.model_copy(update={"keys": {k: v for k, v in doc.keys.items() if k != name}})


# --- checking credentials ---------------------------------------------------------------

class Unauthenticated(Exception):
    """Credentials were sent but are not valid; the message says why (never what was sent)."""


class KeysUnavailable(Exception):
    """The JWKS URL could not be read: the token cannot be checked now."""


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class JwtVerifier:
    """Checks a JWT's signature against a JWKS (file or URL) and its exp, nbf, iss and aud."""

    def __init__(self, settings: JwtSettings, base: Path):
        self.settings = settings
        self.client: jwt.PyJWKClient | None = None
        self.keys: jwt.PyJWKSet | None = None
        self.jwks_path: Path | None = None
        if settings.jwks_url is not None:
            # An unknown kid fetches the JWKS again at most every 30 s (PyJWT >= 2.14), so tokens with
            # made-up kids cannot make this service hammer the identity provider.
            self.client = jwt.PyJWKClient(settings.jwks_url, cache_jwk_set=True, lifespan=300, timeout=5,
                                          cooldown_duration=30)
        else:
            self.jwks_path = (base / settings.jwks_file).resolve()  # type: ignore[operator]
            try:
                self.keys = jwt.PyJWKSet.from_json(self.jwks_path.read_text(encoding="utf-8"))
            except (OSError, ValueError, jwt.PyJWTError) as exc:
                raise AuthFileError(f"jwt.jwks_file {self.jwks_path}: not a usable JWKS ({exc})") from None

    @property
    def blocking(self) -> bool:
        """A JWKS URL may need fetching: check such tokens off the event loop."""
        return self.client is not None

    def _key(self, token: str) -> jwt.PyJWK:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise Unauthenticated("the bearer token is not a JWT") from None
        if self.client is not None:
            try:
                keys = self.client.get_signing_keys()
                match = [k for k in keys if k.key_id == kid] if kid else keys
                if kid and not match:
                    match = [self.client.get_signing_key(kid)]
            except jwt.PyJWKClientConnectionError:
                raise KeysUnavailable("the token's signing keys could not be fetched") from None
            except jwt.PyJWKClientError:
                raise Unauthenticated("the token is signed by an unknown key") from None
        else:
            assert self.keys is not None
            match = [k for k in self.keys if k.key_id == kid] if kid else list(self.keys)
        if len(match) != 1:
            raise Unauthenticated("the token is signed by an unknown key")
        return match[0]

    def verify(self, token: str) -> Caller:
        """The caller a valid token names; Unauthenticated saying what is wrong otherwise."""
        s = self.settings
        key = self._key(token)
        required = ["exp"] + (["iss"] if s.issuer else []) + (["aud"] if s.audience else [])
        try:
            claims = jwt.decode(token, key, algorithms=list(s.algorithms), audience=s.audience, issuer=s.issuer,
                                leeway=s.leeway_seconds,
                                options={"require": required, "verify_aud": s.audience is not None})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("the token is not valid yet (nbf or iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("the token is not meant for this service (aud)") from None
        except jwt.InvalidIssuerError:
            raise Unauthenticated("the token is from another issuer (iss)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"the token lacks the claim {exc.claim!r}") from None
        except jwt.InvalidSignatureError:
            raise Unauthenticated("the token's signature does not verify") from None
        except jwt.PyJWTError:
            raise Unauthenticated("the token is not valid") from None
        for time_claim in ("exp", "nbf", "iat"):  # PyJWT reads "1234" as 1234; RFC 7519 says a NumericDate
            value = claims.get(time_claim)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise Unauthenticated(f"the token's {time_claim!r} claim must be a number (seconds since 1970)")
        name = _claim(claims, s.name_claim)
        if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
            raise Unauthenticated(f"the token's {s.name_claim!r} claim is not a client name")
        if looks_like_identity_number(name):
            raise Unauthenticated(f"the token's {s.name_claim!r} claim looks like a personal identity number")
        raw = _claim(claims, s.role_claim)
        values = raw.split() if isinstance(raw, str) else raw if isinstance(raw, list) else []
        return Caller(name, frozenset(v for v in values if v in ROLES))


@dataclass(frozen=True)
class AuthConfig:
    """A loaded auth file: key hashes by hash, the JWT checker, certificate callers and the limits."""

    doc: AuthFile
    by_hash: dict[str, Caller]
    jwt: JwtVerifier | None
    by_certificate: dict[str, Caller]
    failed: Any  # the failed-authentication window (api/ratelimit.window)

    @classmethod
    def load(cls, path: Path) -> AuthConfig:
        doc = read_file(path)
        by_hash = {e.hmac_sha256: Caller(name, frozenset(e.roles)) for name, e in doc.keys.items()}
        by_cert = {subject: Caller(c.name, frozenset(c.roles)) for subject, c in doc.tls_clients.items()}
        failed = window(doc.failed_auth.attempts / doc.failed_auth.seconds, doc.failed_auth.attempts)
        return cls(doc, by_hash, JwtVerifier(doc.jwt, path.parent) if doc.jwt else None, by_cert, failed)

    def limit_for(self, name: str) -> Any:
        """The request-limit window of caller `name` (None: unlimited)."""
        rl = self.doc.rate_limit
        limit = None if rl is None else rl.clients.get(name, rl)
        return None if limit is None else window(limit.requests_per_second, limit.burst)

    def certificate_caller(self, cert: dict[str, Any] | None) -> Caller | None:
        """The caller a verified client certificate (ssl's getpeercert()) names: its subject CN, else the
        first of its subjectAltNames listed in tls_clients."""
        if not cert or not self.by_certificate:
            return None
        names = [v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"]
        names += [v for k, v in cert.get("subjectAltName", ()) if k in ("DNS", "URI", "email")]
        return next((self.by_certificate[n] for n in names if n in self.by_certificate), None)

    async def authenticate(self, token: str) -> Caller:
        """The caller these credentials belong to, or Unauthenticated."""
        if token.count(".") == 2 and self.jwt is not None:
            try:
                if self.jwt.blocking:
                    return await anyio.to_thread.run_sync(self.jwt.verify, token)
                return self.jwt.verify(token)
            except (Unauthenticated, KeysUnavailable):
                raise
            except Exception as exc:  # a malformed token that trips the parser: refused, never a 500
                log.warning("bearer token refused: %s", type(exc).__name__)
                raise Unauthenticated("the token is not valid") from None
        # A dict lookup by the HMAC: its timing tells an attacker nothing about a 256-bit key.
        found = self.by_hash.get(hash_key(self.doc.salt, token))
        if found is None:
            raise Unauthenticated("unknown API key" if self.jwt is None else "unknown API key or token")
        return found


class AuthSource:
    """The auth file, read again (at most once a second) when it or its JWKS file changes."""

    def __init__(self, path: Path):
        self.path = path.resolve()
        self.config = AuthConfig.load(self.path)
        self._stamp = self._stat()
        self._checked = time.monotonic()

    def _stat(self) -> tuple[Any, ...]:
        paths = [self.path]
        if self.config.jwt is not None and self.config.jwt.jwks_path is not None:
            paths.append(self.config.jwt.jwks_path)
        out: list[Any] = []
        for p in paths:
            try:
                st = p.stat()
                out.append((st.st_mtime_ns, st.st_size, st.st_ino))
            except OSError:
                out.append(None)
        return tuple(out)

    def current(self) -> AuthConfig:
        now = time.monotonic()
        if now - self._checked >= 1.0:
            self._checked = now
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self.config = AuthConfig.load(self.path)
                    log.info("auth file reloaded: %d key(s)", len(self.config.by_hash))
                except AuthFileError as exc:  # keep serving with the last good file
                    log.error("auth file not reloaded, the previous one stays in force: %s", exc)
        return self.config


# --- the middleware ---------------------------------------------------------------------

def _token(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The credential sent: `Authorization: Bearer X` or `X-API-Key: X` (None when neither)."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, rest = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and rest.strip():
                return rest.strip()
        elif name == b"x-api-key" and value.strip():
            return value.decode("latin-1").strip()
    return None


_CHALLENGE = 'Bearer realm="bup-classifier"'
_HOW = "expected Authorization: Bearer <API key or token>, or X-API-Key: <API key>"


async def _answer(send: Any, status: int, detail: str, message: str, kind: str,
                  headers: dict[str, str] | None = None) -> None:
    body = orjson.dumps({"detail": detail, "errors": [{"path": "$", "message": message, "type": kind}]})
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class AuthMiddleware:
    """Pure ASGI: authenticate, check the path's role and the caller's limit, before any body is read."""

    def __init__(self, app: Callable[..., Awaitable[None]], source: AuthSource):
        self.app, self.source, self.limiter = app, source, Limiter()
        self._documents: dict[bool, bytes] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or (need := access_for(scope["path"])) == OPEN:
            if scope.get("method") == "GET" and scope.get("path") == getattr(self.app, "openapi_url", None):
                await self._openapi(scope, send)
                return
            await self.app(scope, receive, send)
            return
        config = self.source.current()
        token = _token(scope["headers"])
        who = config.certificate_caller(scope.get("state", {}).get(PEER_CERT)) if token is None else None
        if token is None and who is None:
            await _answer(send, 401, "authentication required", _HOW, "unauthenticated",
                          {"WWW-Authenticate": _CHALLENGE})
            return
        if who is None:
            address = (scope.get("client") or ("unknown",))[0]
            if (wait := await self.limiter.blocked(address, config.failed)) > 0:  # before any key or token work
                await _answer(send, 429, "too many failed authentications",
                              f"this address failed to authenticate {config.doc.failed_auth.attempts} times within "
                              f"{config.doc.failed_auth.seconds} s; retry later", "auth_throttled",
                              {"Retry-After": str(max(1, math.ceil(wait)))})
                return
            try:
                who = await config.authenticate(token)  # type: ignore[arg-type]
            except Unauthenticated as exc:
                await self.limiter.failed(address, config.failed)
                await _answer(send, 401, "invalid credentials", str(exc), "invalid_credentials",
                              {"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'})
                return
            except KeysUnavailable as exc:
                await _answer(send, 503, "credentials cannot be checked now", str(exc), "auth_unavailable",
                              {"Retry-After": "30"})
                return
        scope[SCOPE_KEY] = who
        limit = config.limit_for(who.name)
        if limit is not None and (wait := await self.limiter.take(who.name, limit)) > 0:
            await _answer(send, 429, "too many requests", f"this client may send {limit.amount} requests in "
                          f"{limit.multiples} s", "rate_limited", {"Retry-After": str(max(1, math.ceil(wait)))})
            return
        if not allowed(who, need):
            await _answer(send, 403, "forbidden", f"this needs the role {need!r}", "forbidden")
            return
        await self.app(scope, receive, send)


    async def _openapi(self, scope: dict[str, Any], send: Any) -> None:
        """The OpenAPI document is open (/docs reads it), but shows the audit operations only to audit callers."""
        who, token = None, _token(scope["headers"])
        if token is not None:
            with contextlib.suppress(Unauthenticated, KeysUnavailable):
                who = await self.source.current().authenticate(token)
        full = who is not None and allowed(who, "audit")
        if full not in self._documents:
            schema = self.app.openapi()
            self._documents[full] = orjson.dumps(schema if full else without(schema, "audit"))
        body = self._documents[full]
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


# --- OpenAPI ----------------------------------------------------------------------------

_REF = re.compile(rb'"\$ref":"#/components/schemas/([^"]+)"')


def without(schema: dict[str, Any], role: str) -> dict[str, Any]:
    """A copy of the OpenAPI document without the operations that need `role`, nor the schemas only they use."""
    doc = orjson.loads(orjson.dumps(schema))
    doc["paths"] = {p: ops for p, ops in doc.get("paths", {}).items() if access_for(p) != role}
    schemas = doc.get("components", {}).get("schemas", {})
    keep: set[str] = set()
    todo: list[Any] = [doc["paths"]]
    while todo:
        for raw in _REF.findall(orjson.dumps(todo.pop())):
            name = raw.decode()
            if name in schemas and name not in keep:
                keep.add(name)
                todo.append(schemas[name])
    if schemas:
        doc["components"]["schemas"] = {k: v for k, v in schemas.items() if k in keep}
    return doc


SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "An API key (`bup-classifier keys add`) or an OAuth2 JWT access token."},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "An API key (`bup-classifier keys add`)."},
}
_ERR = {"$ref": "#/components/schemas/ErrorResponse"}


def document(schema: dict[str, Any], enforced: bool) -> dict[str, Any]:
    """Declare both security schemes and, on each protected operation, its security and role.

    Without an auth file the service is open, which `{}` (no credentials) among the
    alternatives says.
    """
    schema.setdefault("components", {}).setdefault("securitySchemes", {}).update(SCHEMES)
    requirement = [{"bearer": []}, {"apiKey": []}] + ([] if enforced else [{}])
    for path, operations in schema.get("paths", {}).items():
        need = access_for(path)
        if need == OPEN:
            continue
        for op in operations.values():
            op["security"] = requirement
            role = "any role" if need == ANY else f"the role `{need}`"
            op["description"] = (op.get("description", "") + f"\n\nNeeds {role} when access control is on.").strip()
            responses = op.setdefault("responses", {})
            content = {"application/json": {"schema": _ERR}}
            responses.setdefault("401", {"description": "No credentials, or not valid ones.", "content": content})
            responses.setdefault("403", {"description": f"The caller lacks {role}.", "content": content})
            responses.setdefault("429", {"description": "Over this client's request limit; see Retry-After.",
                                         "content": content})
    return schema


def protect(app: Any, auth_file: str | os.PathLike[str] | None = None) -> Any:
    """Wrap a FastAPI app with access control from `auth_file` (default: $BUP_AUTH_FILE; none: open).

    The OpenAPI document declares the security schemes either way.
    """
    path = auth_file or os.environ.get(ENV_VAR) or None
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            app.openapi_schema = document(original(), enforced=path is not None)
        return app.openapi_schema

    app.openapi_schema = None
    app.openapi = openapi
    return app if path is None else AuthMiddleware(app, AuthSource(Path(path)))
