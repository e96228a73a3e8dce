"""Access control: API keys, JWT bearer tokens, roles, request limits, the OpenAPI schemes, TLS and mutual TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from starlette.routing import Mount

from api import auth, security
from api.app import create_app
from classifier.cli import main as cli
from tests.helpers import contact, request
from tests.server import ROOT, free_port

GOOD = request(contact("2026-02-26"), care_request={"received_date": "2026-02-02", "pathway": "A"})
NOW = int(time.time())


# --- keys, tokens, files ----------------------------------------------------------------

def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


RSA, OTHER_RSA, EC = rsa_key(), rsa_key(), ec.generate_private_key(ec.SECP256R1())


def jwks(*pairs: tuple[str, Any]) -> dict[str, Any]:
    """A JWKS with the public halves of (kid, private key) pairs."""
    keys = []
    for kid, key in pairs:
        algo = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
        keys.append({**algo.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"})
    return {"keys": keys}


def token(key: Any = RSA, kid: str = "rsa-1", alg: str = "RS256", **claims: Any) -> str:
    body = {"sub": "journal-x", "iss": "https://idp.test", "aud": "bup-classifier", "exp": NOW + 600,
            "nbf": NOW - 60, "roles": ["classify"], **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=alg, headers={"kid": kid})


@pytest.fixture
def auth_file(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An auth file with a key per role, JWT settings (JWKS file) and a tight limit for one client."""
    path = tmp_path / "auth.yaml"
    keys = {name: auth.add_key(path, name, roles) for name, roles in
            (("journal-a", ["classify"]), ("auditor", ["audit"]), ("boss", ["admin"]), ("busy", ["classify"]))}
    (tmp_path / "jwks.json").write_text(json.dumps(jwks(("rsa-1", RSA), ("ec-1", EC))))
    doc = yaml.safe_load(path.read_text())
    doc["jwt"] = {"jwks_file": "jwks.json", "issuer": "https://idp.test", "audience": "bup-classifier",
                  "role_claim": "roles", "algorithms": ["RS256", "ES256"]}
    doc["rate_limit"] = {"requests_per_second": 1000, "burst": 1000,
                         "clients": {"busy": {"requests_per_second": 0.01, "burst": 3}}}
    path.write_text(yaml.safe_dump(doc))
    return path, keys


def app_with(path: Path | None, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    if path is None:
        monkeypatch.delenv(auth.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(auth.ENV_VAR, str(path))
    return TestClient(create_app(), raise_server_exceptions=False)


@pytest.fixture
def client(auth_file, monkeypatch) -> TestClient:
    return app_with(auth_file[0], monkeypatch)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


# --- the file and the keys command ------------------------------------------------------

def test_keys_add_prints_the_key_once_and_stores_only_its_hash(tmp_path: Path, capsys) -> None:
    path = tmp_path / "sub" / "auth.yaml"
    path.parent.mkdir()
    assert cli(["keys", "add", "journal-a", "--role", "classify", "--role", "audit", "--auth-file", str(path)]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith(auth.KEY_PREFIX) and len(key) > 40
    text = path.read_text()
    assert key not in text and key[len(auth.KEY_PREFIX):] not in text
    doc = auth.read_file(path)
    assert doc.keys["journal-a"].roles == ["classify", "audit"]
    assert doc.keys["journal-a"].hmac_sha256 == auth.hash_key(doc.salt, key)
    assert path.stat().st_mode & 0o777 == 0o600
    assert os.listdir(path.parent) == ["auth.yaml"]  # no temporary or lock file left behind

    assert cli(["keys", "add", "journal-b", "--role", "classify", "--auth-file", str(path)]) == 0
    other = capsys.readouterr().out.strip()
    assert other != key
    assert cli(["keys", "list", "--auth-file", str(path)]) == 0
    listing = capsys.readouterr().out
    assert "journal-a" in listing and "classify,audit" in listing and "journal-b" in listing
    assert key not in listing and doc.keys["journal-a"].hmac_sha256 not in listing

    assert cli(["keys", "add", "journal-a", "--role", "classify", "--auth-file", str(path)]) == 2
    assert "exists" in capsys.readouterr().err
    assert cli(["keys", "remove", "journal-a", "--auth-file", str(path)]) == 0
    assert list(auth.read_file(path).keys) == ["journal-b"]
    assert cli(["keys", "remove", "journal-a", "--auth-file", str(path)]) == 2
    assert "no key named 'journal-a'" in capsys.readouterr().err


def test_keys_refuse_bad_names_and_roles(tmp_path: Path, capsys) -> None:
    path = tmp_path / "auth.yaml"
    assert cli(["keys", "add", "19121212-1212", "--role", "classify", "--auth-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "identity number" in err and "19121212" not in err.replace("'19121212-1212'", "")
    assert cli(["keys", "add", "has space", "--role", "classify", "--auth-file", str(path)]) == 2
    assert "expected 1-64 letters" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli(["keys", "add", "x", "--role", "superuser", "--auth-file", str(path)])
    assert not path.exists()


def test_a_bad_auth_file_is_refused_naming_the_field(tmp_path: Path, capsys) -> None:
    path = tmp_path / "auth.yaml"
    auth.add_key(path, "a", ["classify"])
    doc = yaml.safe_load(path.read_text())
    doc["keys"]["a"]["roles"] = ["root"]
    doc["jwt"] = {"jwks_url": "http://idp.example/jwks.json"}
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(auth.AuthFileError) as err:
        auth.read_file(path)
    assert "keys.a.roles.0" in str(err.value) and "jwt" in str(err.value) and "https://" in str(err.value)
    assert cli(["serve", "--auth-file", str(path), "--port", str(free_port())]) == 2
    assert "keys.a.roles.0" in capsys.readouterr().err
    assert cli(["serve", "--auth-file", str(tmp_path / "missing.yaml"), "--port", str(free_port())]) == 2
    assert "cannot read" in capsys.readouterr().err


# --- status codes (in-process) ----------------------------------------------------------

def test_missing_credentials_get_401_with_a_challenge(client) -> None:
    for method, path in (("POST", "/v1/classify"), ("POST", "/v1/classify/batch"), ("GET", "/v1/ruleset"),
                         ("GET", "/workbench/library"), ("POST", "/v1/reports/monthly"), ("GET", "/v1/decisions")):
        r = client.request(method, path, json=GOOD)
        assert r.status_code == 401, path
        assert r.headers["WWW-Authenticate"] == 'Bearer realm="bup-classifier"'
        assert r.json()["errors"][0]["type"] == "unauthenticated"
    r = client.post("/v1/classify", json=GOOD, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401


def test_a_wrong_key_gets_401_saying_it_is_invalid(client, auth_file) -> None:
    _, keys = auth_file
    for headers in (bearer("bup_not-a-key"), {"X-API-Key": keys["journal-a"] + "x"}, bearer(keys["journal-a"][:-1])):
        r = client.post("/v1/classify", json=GOOD, headers=headers)
        assert r.status_code == 401
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
        assert r.json()["errors"][0]["message"] == "unknown API key or token"
        assert keys["journal-a"][:20] not in r.text


def test_the_right_role_gets_200_by_either_header(client, auth_file) -> None:
    _, keys = auth_file
    for headers in (bearer(keys["journal-a"]), {"X-API-Key": keys["journal-a"]}, bearer(keys["boss"])):
        r = client.post("/v1/classify", json=GOOD, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["contact_type"] == "first_visit"
    assert client.get("/workbench/library", headers=bearer(keys["journal-a"])).status_code == 200
    r = client.post("/v1/classify/timeline", json={"events": []}, headers=bearer(keys["journal-a"]))
    assert r.status_code in (200, 422)  # past the guard: the classifier answers


def test_a_wrong_role_gets_403_and_nothing_about_the_decision_log(client, auth_file) -> None:
    _, keys = auth_file
    r = client.post("/v1/classify", json=GOOD, headers=bearer(keys["auditor"]))
    assert r.status_code == 403
    assert r.json() == {"detail": "forbidden", "errors": [
        {"path": "$", "message": "this needs the role 'classify'", "type": "forbidden"}]}
    for path in ("/v1/decisions", "/v1/decisions/some-id", "/v1/impact"):
        r = client.get(path, headers=bearer(keys["journal-a"]))
        assert r.status_code == 403
        assert "decision" not in r.text.lower() and "impact" not in r.text.lower()
    # an audit key passes the guard (the decision log itself is another module's endpoint)
    assert client.get("/v1/decisions", headers=bearer(keys["auditor"])).status_code != 403


def test_the_rule_set_needs_any_authenticated_caller(client, auth_file) -> None:
    _, keys = auth_file
    assert client.get("/v1/ruleset").status_code == 401
    for name in ("journal-a", "auditor", "boss"):
        assert client.get("/v1/ruleset", headers=bearer(keys[name])).status_code == 200
    # a token with no role at all: authenticated, so the rule set; nothing else
    t = token(roles=[])
    assert client.get("/v1/ruleset", headers=bearer(t)).status_code == 200
    assert client.post("/v1/classify", json=GOOD, headers=bearer(t)).status_code == 403


def test_open_paths_stay_open(client) -> None:
    assert client.get("/health").json()["status"] == "ok"
    page = client.get("/")
    assert page.status_code == 200 and 'id="key-form"' in page.text
    for path in ("/workbench/static/workbench.js", "/workbench/static/workbench.css", "/docs", "/openapi.json",
                 "/docs/oauth2-redirect", "/workbench/month", "/workbench/impact", "/workbench/static/pages.js"):
        assert client.get(path).status_code == 200, path


def test_over_the_limit_gets_429_with_retry_after(client, auth_file) -> None:
    _, keys = auth_file
    statuses = [client.get("/v1/ruleset", headers=bearer(keys["busy"])).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    r = client.post("/v1/classify", json=GOOD, headers=bearer(keys["busy"]))
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 300  # 3 requests in any 300 s (burst / rate)
    assert r.json()["errors"][0]["type"] == "rate_limited"
    # the limit is per caller: another client is not held back
    assert all(client.get("/v1/ruleset", headers=bearer(keys["journal-a"])).status_code == 200 for _ in range(10))


def test_the_limits_are_counted_once_for_all_workers_of_a_service(tmp_path: Path) -> None:
    """Two workers (two Limiters on the store `serve` gives a service) share one count: a burst of 4 is 4 in
    all, not 4 in each."""
    import asyncio

    from api import ratelimit

    uri = f"shared://{tmp_path / 'limits.db'}"
    workers, item = [ratelimit.Limiter(uri), ratelimit.Limiter(uri)], ratelimit.window(1 / 60, 4)

    async def hits() -> list[float]:
        return [await workers[i % 2].take("journal-a", item) for i in range(6)]

    waits = asyncio.run(hits())
    assert waits[:4] == [0, 0, 0, 0] and all(0 < w <= 240 for w in waits[4:]), waits  # 4 in any 240 s
    assert asyncio.run(workers[0].take("journal-b", item)) == 0  # per caller


def test_a_real_two_worker_server_counts_a_callers_requests_once(auth_file, tmp_path) -> None:
    path, keys = auth_file
    with serve(["--auth-file", str(path), "--workers", "2"], tmp_path / "server.log") as base:
        statuses = [httpx.get(f"{base}/v1/ruleset", headers=bearer(keys["busy"])).status_code for _ in range(12)]
    assert statuses.count(200) == 3 and statuses.count(429) == 9, statuses  # burst 3 for the whole service


def test_failed_authentications_are_throttled_before_any_key_work(auth_file, monkeypatch) -> None:
    path, keys = auth_file
    doc = yaml.safe_load(path.read_text())
    doc["failed_auth"] = {"attempts": 5, "seconds": 60}
    path.write_text(yaml.safe_dump(doc))
    c = app_with(path, monkeypatch)
    checked = []
    real = auth.hash_key
    monkeypatch.setattr(auth, "hash_key", lambda salt, key: checked.append(key) or real(salt, key))
    wrong = [c.get("/v1/ruleset", headers=bearer(f"bup_wrong{i}")).status_code for i in range(5)]
    assert wrong == [401] * 5 and len(checked) == 5
    for credential in (bearer("bup_wrong-again"), bearer(keys["journal-a"]), bearer(token())):
        r = c.get("/v1/ruleset", headers=credential)
        assert r.status_code == 429 and r.json()["errors"][0]["type"] == "auth_throttled", r.text
        assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert len(checked) == 5  # the key was never hashed, the token never parsed
    assert c.get("/health").status_code == 200  # open paths stay open


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_time_claims_must_be_numbers(client, claim) -> None:
    value = str(NOW + 600) if claim == "exp" else str(NOW - 60)
    r = client.get("/v1/ruleset", headers=bearer(token(**{claim: value})))
    assert r.status_code == 401
    assert r.json()["errors"][0]["message"] == f"the token's {claim!r} claim must be a number (seconds since 1970)"
    assert client.get("/v1/ruleset", headers=bearer(token(**{claim: int(value)}))).status_code == 200


def test_the_pyjwt_floor_has_the_jwks_cooldown() -> None:
    """README and api/auth.py rely on PyJWKClient's cooldown_duration (an unknown kid refetches at most every
    30 s); PyJWT 2.14 is the first release that has it, so pyproject.toml may not allow an older one."""
    import re
    import tomllib

    from packaging.version import Version

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    floor = next(re.search(r">=([\d.]+)", d).group(1) for d in deps if d.startswith("pyjwt"))
    assert Version(floor) >= Version("2.14")
    assert jwt.PyJWKClient("https://idp.test/jwks.json", cooldown_duration=30)


def test_removing_a_key_revokes_it_in_a_running_app(client, auth_file) -> None:
    path, keys = auth_file
    assert client.get("/v1/ruleset", headers=bearer(keys["auditor"])).status_code == 200
    auth.remove_key(path, "auditor")
    deadline = time.monotonic() + 5
    while client.get("/v1/ruleset", headers=bearer(keys["auditor"])).status_code == 200:
        assert time.monotonic() < deadline, "a removed key still works after 5 s"
        time.sleep(0.2)
    assert client.get("/v1/ruleset", headers=bearer(keys["journal-a"])).status_code == 200


def test_without_an_auth_file_the_service_stays_open(monkeypatch) -> None:
    open_client = app_with(None, monkeypatch)
    assert open_client.post("/v1/classify", json=GOOD).status_code == 200
    assert open_client.get("/v1/ruleset").status_code == 200


# --- JWT ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("claims", "key", "kid", "alg", "message"), [
    ({"exp": NOW - 10}, RSA, "rsa-1", "RS256", "the token has expired"),
    ({"nbf": NOW + 3600}, RSA, "rsa-1", "RS256", "the token is not valid yet (nbf or iat in the future)"),
    ({"aud": "another-service"}, RSA, "rsa-1", "RS256", "the token is not meant for this service (aud)"),
    ({"aud": None}, RSA, "rsa-1", "RS256", "the token lacks the claim 'aud'"),
    ({"iss": "https://evil.test"}, RSA, "rsa-1", "RS256", "the token is from another issuer (iss)"),
    ({"exp": None}, RSA, "rsa-1", "RS256", "the token lacks the claim 'exp'"),
    ({}, OTHER_RSA, "rsa-1", "RS256", "the token's signature does not verify"),
    ({}, OTHER_RSA, "rsa-2", "RS256", "the token is signed by an unknown key"),
    ({"sub": "191212121212"}, RSA, "rsa-1", "RS256", "the token's 'sub' claim looks like a personal identity number"),
], ids=["expired", "not-yet", "wrong-audience", "no-audience", "wrong-issuer", "no-exp", "wrong-key", "unknown-kid",
        "identity-number-subject"])
def test_an_invalid_jwt_gets_401_saying_why(client, claims, key, kid, alg, message) -> None:
    r = client.post("/v1/classify", json=GOOD, headers=bearer(token(key, kid, alg, **claims)))
    assert r.status_code == 401
    assert r.json()["errors"][0]["message"] == message
    assert "191212121212" not in r.text


def test_hs256_and_none_tokens_are_refused(client) -> None:
    forged = jwt.encode({"sub": "x", "exp": NOW + 60, "aud": "bup-classifier", "iss": "https://idp.test",
                         "roles": ["admin"]}, "secret-of-32-bytes-or-more-xxxxxxxx", algorithm="HS256",
                        headers={"kid": "rsa-1"})
    assert client.get("/v1/ruleset", headers=bearer(forged)).status_code == 401
    unsigned = jwt.encode({"sub": "x", "exp": NOW + 60, "roles": ["admin"]}, None, algorithm="none",
                          headers={"kid": "rsa-1"})
    assert client.get("/v1/ruleset", headers=bearer(unsigned)).status_code == 401


def test_a_valid_jwt_gets_the_roles_of_its_claim(client) -> None:
    assert client.post("/v1/classify", json=GOOD, headers=bearer(token())).status_code == 200
    ec_token = token(EC, "ec-1", "ES256", roles=["audit"])
    assert client.get("/v1/ruleset", headers=bearer(ec_token)).status_code == 200
    assert client.post("/v1/classify", json=GOOD, headers=bearer(ec_token)).status_code == 403


@contextmanager
def jwks_server(doc: dict[str, Any]) -> Iterator[tuple[str, list[str]]]:
    """A JWKS URL on 127.0.0.1; yields the URL and the paths fetched."""
    fetched: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fetched.append(self.path)
            body = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/jwks.json", fetched
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_jwt_against_a_jwks_url_with_roles_from_the_scope_claim(tmp_path, monkeypatch) -> None:
    path = tmp_path / "auth.yaml"
    auth.add_key(path, "journal-a", ["classify"])
    with jwks_server(jwks(("rsa-1", RSA))) as (url, fetched):
        doc = yaml.safe_load(path.read_text())
        doc["jwt"] = {"jwks_url": url, "audience": "bup-classifier", "role_claim": "scope", "name_claim": "client_id"}
        path.write_text(yaml.safe_dump(doc))
        c = app_with(path, monkeypatch)
        scoped = token(scope="openid classify", client_id="journal-y", roles=None)
        assert c.post("/v1/classify", json=GOOD, headers=bearer(scoped)).status_code == 200
        assert c.post("/v1/classify", json=GOOD, headers=bearer(scoped)).status_code == 200
        assert fetched == ["/jwks.json"]  # fetched once, then cached
        audit_only = token(scope="audit", client_id="journal-y")
        assert c.post("/v1/classify", json=GOOD, headers=bearer(audit_only)).status_code == 403
        r = c.post("/v1/classify", json=GOOD, headers=bearer(token(OTHER_RSA, "rsa-9", scope="classify",
                                                                          client_id="journal-y")))
        assert r.status_code == 401 and r.json()["errors"][0]["message"] == "the token is signed by an unknown key"
        r = c.post("/v1/classify", json=GOOD, headers=bearer(token(aud="x", scope="classify", client_id="journal-y")))
        assert r.status_code == 401


# --- OpenAPI ------------------------------------------------------------------------------

def test_openapi_declares_the_schemes_and_each_operations_security(client, monkeypatch) -> None:
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]}
    assert schemes["apiKey"]["in"] == "header" and schemes["apiKey"]["name"] == "X-API-Key"
    classify = spec["paths"]["/v1/classify"]["post"]
    assert classify["security"] == [{"bearer": []}, {"apiKey": []}]
    assert "the role `classify`" in classify["description"]
    assert {"401", "403", "429"} <= set(classify["responses"])
    assert "any role" in spec["paths"]["/v1/ruleset"]["get"]["description"]
    assert "security" not in spec["paths"]["/health"]["get"]
    # without an auth file the same schemes, and no credentials ({}) is one of the alternatives
    open_spec = app_with(None, monkeypatch).get("/openapi.json").json()
    assert open_spec["components"]["securitySchemes"] == schemes
    assert open_spec["paths"]["/v1/classify"]["post"]["security"] == [{"bearer": []}, {"apiKey": []}, {}]


def test_every_route_has_a_declared_access(monkeypatch) -> None:
    """A new endpoint must be placed in api.security.ACCESS (undeclared paths fall to admin only)."""
    inner = create_app().app.app  # AccessLog -> IdentityGuard -> FastAPI
    paths = [r.path for r in inner.routes if isinstance(r, APIRoute | Mount)]
    assert "/v1/classify" in paths and "/workbench/static" in paths
    undeclared = [p for p in paths if security.declared(p.split("{")[0].rstrip("/") or "/") is None]
    assert undeclared == []
    assert security.access_for("/v1/something-new") == "admin"
    assert security.access_for("/v1/classifyx") == "admin"  # prefixes match whole segments only


# --- a real server: keys over HTTP, TLS and mutual TLS ----------------------------------

@contextmanager
def serve(args: list[str], log: Path, scheme: str = "http", **client: Any) -> Iterator[str]:
    """`bup-classifier serve` on a loopback port with `args`; waits for /health with `client` options."""
    port = free_port()
    exe = Path(sys.executable).parent / "bup-classifier"
    env = {k: v for k, v in os.environ.items() if k != auth.ENV_VAR}
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
                                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
        base = f"{scheme}://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=1, **client).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")
                time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_a_real_server_with_an_auth_file_requires_keys_and_logs_the_caller(auth_file, tmp_path) -> None:
    path, keys = auth_file
    log = tmp_path / "server.log"
    with serve(["--auth-file", str(path)], log) as base:
        assert httpx.post(f"{base}/v1/classify", json=GOOD).status_code == 401
        assert httpx.post(f"{base}/v1/classify", json=GOOD, headers=bearer(keys["journal-a"])).status_code == 200
        assert httpx.post(f"{base}/v1/classify", json=GOOD, headers={"X-API-Key": keys["auditor"]}).status_code == 403
        assert httpx.get(f"{base}/v1/ruleset", headers=bearer(token())).status_code == 200
    text = log.read_text()
    lines = [x for x in map(json.loads, filter(None, text.splitlines())) if "method" in x]
    assert [(x["path"], x["status"], x["caller"]) for x in lines if x["path"] != "/health"] == [
        ("/v1/classify", 401, None), ("/v1/classify", 200, "journal-a"), ("/v1/classify", 403, "auditor"),
        ("/v1/ruleset", 200, "journal-x")]
    for secret in (*keys.values(), token()):
        assert secret not in text


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: Any, issuer: str, issuer_key: Any, ca: bool = False,
          server: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    b = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        loopback = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
        b = b.add_extension(x509.SubjectAlternativeName([loopback]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: Any | None = None) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


@pytest.mark.parametrize(("trusted", "separate"), [("127.0.0.1", True), ("10.9.9.9", False)])
def test_behind_a_trusted_proxy_failed_logins_count_per_forwarded_client(auth_file, tmp_path, trusted,
                                                                          separate) -> None:
    """The proxy here is the test on loopback: trusted, each X-Forwarded-For address has its own count (one
    client's guessing does not lock out the others); not trusted, the header is ignored and the proxy's
    address is counted for everyone."""
    path, _ = auth_file
    doc = yaml.safe_load(path.read_text())
    doc["failed_auth"] = {"attempts": 2, "seconds": 60}
    path.write_text(yaml.safe_dump(doc))
    with serve(["--auth-file", str(path), "--forwarded-allow-ips", trusted], tmp_path / "server.log") as base:
        def status(client: str) -> int:
            return httpx.get(f"{base}/v1/ruleset", headers={**bearer("bup_wrong"), "X-Forwarded-For": client}
                             ).status_code
        assert [status("10.0.0.1") for _ in range(3)] == [401, 401, 429]
        assert status("10.0.0.2") == (401 if separate else 429)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and two client certificates: one from the CA, one not."""
    ca_key, srv_key, cli_key, rogue_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(4))
    ca = _cert("test CA", ca_key, "test CA", ca_key, ca=True)
    return {
        "ca": _write(tmp_path / "ca.pem", ca),
        "server": _write(tmp_path / "server.pem", _cert("127.0.0.1", srv_key, "test CA", ca_key, server=True), srv_key),
        "client": _write(tmp_path / "client.pem", _cert("journal-a", cli_key, "test CA", ca_key), cli_key),
        "rogue": _write(tmp_path / "rogue.pem", _cert("rogue", rogue_key, "rogue", rogue_key), rogue_key),
    }


def _context(pki: dict[str, Path], client_cert: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki["ca"]))
    if client_cert:
        ctx.load_cert_chain(str(pki[client_cert]), str(pki[client_cert].with_suffix(".key")))
    return ctx


def _raw_https(port: int, ctx: ssl.SSLContext) -> bytes:
    """One GET /health over TLS on a plain socket: the bytes answered (b'' if the server closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return tls.recv(65536)


def _refused(port: int, ctx: ssl.SSLContext) -> bool:
    """The handshake fails (TLS 1.3 may report it only on the first read) and no answer comes."""
    try:
        return _raw_https(port, ctx) == b""
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        return True


def test_tls_with_client_certificates_on_a_real_server(pki, auth_file, tmp_path) -> None:
    path, keys = auth_file
    args = ["--auth-file", str(path), "--tls-cert", str(pki["server"]), "--tls-key", str(pki["server"].with_suffix(
        ".key")), "--tls-client-ca", str(pki["ca"])]
    good = _context(pki, "client")
    with serve(args, tmp_path / "tls.log", scheme="https", verify=good) as base:
        port = int(base.rsplit(":", 1)[1])
        assert _raw_https(port, good).startswith(b"HTTP/1.1 200")
        r = httpx.post(f"{base}/v1/classify", json=GOOD, headers=bearer(keys["journal-a"]), verify=good)
        assert r.status_code == 200 and r.json()["rule"]["id"] == "N1"
        assert httpx.post(f"{base}/v1/classify", json=GOOD, verify=good).status_code == 401  # mTLS and a key
        assert _refused(port, _context(pki, None))  # no client certificate
        assert _refused(port, _context(pki, "rogue"))  # one from another CA
        with pytest.raises(httpx.TransportError):  # plain HTTP gets no answer from a TLS port
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)


def test_a_client_certificate_names_the_caller_without_a_second_credential(pki, auth_file, tmp_path) -> None:
    """With mutual TLS, the auth file's tls_clients maps a certificate's subject CN (or a SAN) to a caller and
    its roles: no key or token is needed, the log names the caller, and a key still works beside it."""
    path, keys = auth_file
    doc = yaml.safe_load(path.read_text())
    doc["tls_clients"] = {"journal-a": {"name": "region-platform", "roles": ["classify"]}}
    path.write_text(yaml.safe_dump(doc))
    args = ["--auth-file", str(path), "--tls-cert", str(pki["server"]), "--tls-key", str(pki["server"].with_suffix(
        ".key")), "--tls-client-ca", str(pki["ca"])]
    good, log = _context(pki, "client"), tmp_path / "tls.log"
    with serve(args, log, scheme="https", verify=good) as base:
        r = httpx.post(f"{base}/v1/classify", json=GOOD, verify=good)
        assert r.status_code == 200 and r.json()["rule"]["id"] == "N1"
        assert httpx.get(f"{base}/v1/decisions", verify=good).status_code == 403  # its roles, not more
        assert httpx.get(f"{base}/v1/ruleset", headers=bearer(keys["auditor"]), verify=good).status_code == 200
    lines = [x for x in map(json.loads, filter(None, log.read_text().splitlines())) if "method" in x]
    assert [(x["path"], x["caller"]) for x in lines if x["path"] != "/health"] == [
        ("/v1/classify", "region-platform"), ("/v1/decisions", "region-platform"), ("/v1/ruleset", "auditor")]


def test_a_certificate_is_matched_by_its_common_name_or_a_subject_alt_name(auth_file) -> None:
    path, _ = auth_file
    doc = yaml.safe_load(path.read_text())
    doc["tls_clients"] = {"platform.region.example": {"name": "region-platform", "roles": ["classify", "audit"]}}
    path.write_text(yaml.safe_dump(doc))
    config = auth.AuthConfig.load(path)
    by_san = {"subject": ((("commonName", "something else"),),),
              "subjectAltName": (("DNS", "platform.region.example"),)}
    by_cn = {"subject": ((("organizationName", "Region"),), (("commonName", "platform.region.example"),))}
    for cert in (by_san, by_cn):
        assert config.certificate_caller(cert) == security.Caller("region-platform", frozenset({"classify", "audit"}))
    assert config.certificate_caller({"subject": ((("commonName", "rogue"),),)}) is None
    assert config.certificate_caller(None) is None


def test_serve_refuses_half_a_tls_configuration(pki, capsys) -> None:
    assert cli(["serve", "--tls-cert", str(pki["server"]), "--port", str(free_port())]) == 2
    assert "--tls-cert and --tls-key together" in capsys.readouterr().err
    assert cli(["serve", "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key",
                "--port", str(free_port())]) == 2
    assert "--tls-cert /nonexistent.pem: no such file" in capsys.readouterr().err


# --- the workbench asks for a key -------------------------------------------------------

def test_the_workbench_asks_for_a_key_on_401_and_sends_it(auth_file, tmp_path) -> None:
    """Chromium against a real server with an auth file: a wrong key is refused, the right one opens the page."""
    from playwright.sync_api import sync_playwright

    from classifier import examples as library
    from tests.test_workbench import CHROMIUM, CHROMIUM_ARGS

    path, keys = auth_file
    example = next(e for e in library.load() if e.request and "error_paths" not in e.expect)
    log = tmp_path / "server.log"
    with serve(["--auth-file", str(path)], log) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            pg = browser.new_page()
            uncaught: list[str] = []
            pg.on("pageerror", lambda e: uncaught.append(str(e)))
            pg.goto(base + "/")
            pg.wait_for_selector("#key-form:not([hidden])")
            assert pg.is_hidden("#key-wrong")
            pg.fill("#api-key", "bup_wrong")
            pg.click("#key-form button")
            pg.wait_for_selector("#key-wrong:not([hidden])")
            assert pg.inner_text("#key-wrong") == "Nyckeln godtogs inte."
            pg.fill("#api-key", keys["journal-a"])
            pg.click("#key-form button")
            pg.wait_for_selector("body[data-ready=true]")
            assert pg.is_hidden("#key-form")
            assert pg.evaluate("sessionStorage.getItem('bup-api-key')") == keys["journal-a"]
            pg.click(f'button[data-example="{example.name}"]')
            pg.wait_for_selector("#answer-card")
            # The month's upload page opens without a header and sends the key the workbench asked for.
            extract = tmp_path / "extract.csv"
            extract.write_text("patient_ref,event_id,event_type,date,region,unit,pathway,setting,activity,"
                               "health_problem\np1,e1,care_request,2026-03-01,R,U,A,,,\n"
                               "p1,e2,contact,2026-03-10,R,U,,bup,assessment,F41\n", encoding="utf-8")
            pg.goto(base + "/workbench/month")
            pg.set_input_files("#file", str(extract))
            pg.click("button[type=submit]")
            assert pg.wait_for_selector("#totals").inner_text().startswith("1 patienter, 1 kontakter, 1 mätpunkter")
            # The impact page with one rule set loaded: nothing to compare, and the button says so.
            pg.goto(base + "/workbench/impact")
            pg.wait_for_selector("body[data-ready=true]")
            assert pg.is_disabled("#run") and "Jämför går inte" in pg.inner_text("#held")
            assert uncaught == []
        finally:
            browser.close()
    lines = [x for x in map(json.loads, filter(None, log.read_text().splitlines())) if "method" in x]
    assert [(x["path"], x["status"], x["caller"]) for x in lines if x["path"].startswith(("/v1", "/workbench/l"))] == [
        ("/workbench/library", 401, None), ("/workbench/library", 401, None),
        ("/workbench/library", 200, "journal-a"), ("/v1/classify", 200, "journal-a"),
        ("/workbench/library", 200, "journal-a"), ("/v1/months", 200, "journal-a"),
        ("/workbench/library", 200, "journal-a"), ("/v1/ruleset", 200, "journal-a")]


@given(st.lists(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=60), min_size=3,
                max_size=3).map(".".join))
def test_any_three_part_token_that_is_not_ours_gets_401(auth_file_session, text) -> None:
    c, _ = auth_file_session
    r = c.get("/v1/ruleset", headers={"Authorization": f"Bearer {text}"})
    assert r.status_code == 401
    assert r.json()["detail"] == "invalid credentials"


@pytest.fixture(scope="module")
def auth_file_session(tmp_path_factory) -> Iterator[tuple[TestClient, Path]]:
    """One app with a JWKS-file configuration for the property test (Hypothesis runs it many times)."""
    tmp = tmp_path_factory.mktemp("auth")
    path = tmp / "auth.yaml"
    auth.add_key(path, "journal-a", ["classify"])
    (tmp / "jwks.json").write_text(json.dumps(jwks(("rsa-1", RSA))))
    doc = yaml.safe_load(path.read_text())
    doc["jwt"] = {"jwks_file": "jwks.json", "audience": "bup-classifier"}
    doc["failed_auth"] = {"attempts": 1_000_000, "seconds": 1}  # every made-up token is checked, none throttled
    path.write_text(yaml.safe_dump(doc))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(auth.ENV_VAR, str(path))
        yield TestClient(create_app(), raise_server_exceptions=False), path


def test_an_unreachable_jwks_url_gets_503_not_401(tmp_path, monkeypatch) -> None:
    path = tmp_path / "auth.yaml"
    auth.add_key(path, "journal-a", ["classify"])
    doc = yaml.safe_load(path.read_text())
    doc["jwt"] = {"jwks_url": f"http://127.0.0.1:{free_port()}/jwks.json"}  # nothing listens there
    path.write_text(yaml.safe_dump(doc))
    r = app_with(path, monkeypatch).get("/v1/ruleset", headers=bearer(token()))
    assert r.status_code == 503 and r.headers["Retry-After"] == "30"
    assert r.json()["errors"][0]["message"] == "the token's signing keys could not be fetched"


def test_the_openapi_document_shows_audit_operations_only_to_audit_callers(auth_file, monkeypatch) -> None:
    from pydantic import BaseModel

    class AuditProbeRecord(BaseModel):
        answer_digest: str

    monkeypatch.setenv(auth.ENV_VAR, str(auth_file[0]))
    outer = create_app()
    inner = outer.app.app.app  # AccessLog -> IdentityGuard -> AuthMiddleware -> FastAPI
    inner.add_api_route("/v1/decisions/{decision_id}", lambda decision_id: AuditProbeRecord(answer_digest="x"),
                        response_model=AuditProbeRecord, methods=["GET"])
    c, keys = TestClient(outer), auth_file[1]
    for headers in ({}, bearer(keys["journal-a"]), bearer("bup_wrong")):
        text = c.get("/openapi.json", headers=headers).text
        assert "/v1/classify" in text and "ClassifyRequest" in text
        assert "/v1/decisions" not in text and "AuditProbeRecord" not in text and "answer_digest" not in text
    for name in ("auditor", "boss"):
        spec = c.get("/openapi.json", headers=bearer(keys[name])).json()
        assert "/v1/decisions/{decision_id}" in spec["paths"] and "AuditProbeRecord" in spec["components"]["schemas"]
        assert spec["paths"]["/v1/decisions/{decision_id}"]["get"]["security"] == [{"bearer": []}, {"apiKey": []}]
