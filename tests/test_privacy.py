"""Identity numbers, every spelling of tests/data/identity_spellings.json, everywhere a request can carry one.

The detector flags each spelling; each is refused (422, never echoed in the answer's body or
headers) as a JSON value, as a key, in the URL path, in the query string, in X-Request-ID and
in another header, on every endpoint family; after the whole corpus has been sent with the
decision log on, neither the captured log lines nor the SQLite file (its bytes and its rows)
hold one. The table's clean values (dates, timestamps, UUIDs, references, phone numbers) pass.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from pydantic import TypeAdapter, ValidationError

from api.month import EXAMPLE as MONTH
from api.server import JsonFormatter
from classifier.errors import problems
from classifier.privacy import REDACTED, identity_number_paths, looks_like_identity_number, redact
from tests.client import client
from tests.helpers import contact, request
from tests.identity_table import clean, digits, generated, listed, spellings
from tests.test_decisions import log_of, make_client

GOOD = request(contact("2026-02-26"), care_request={"received_date": "2026-02-02", "pathway": "A"},
               patient={"ref": "p-17"})
TIMELINE = {"patient": {"ref": "p-9"}, "events": [{"type": "contact", **{k: GOOD[k] for k in ("contact",
                                                                                                "care_request")}}]}
EXAMPLE_FILE = (Path(__file__).parent.parent / "examples" / "acute" / "01_acute_contact.yaml").read_text("utf-8")
FAMILIES: dict[str, tuple[str, Any]] = {  # endpoint family -> (URL, a clean body; None: a GET)
    "classify": ("/v1/classify", GOOD),
    "batch": ("/v1/classify/batch", {"items": [GOOD]}),
    "timeline": ("/v1/classify/timeline", TIMELINE),
    "months": ("/v1/months", MONTH),
    "decisions": ("/v1/decisions", None),
    "workbench": ("/workbench/example/read", {"yaml": EXAMPLE_FILE}),
}
PLACES = ("value", "key", "path", "query", "x-request-id", "header")
JSON_TYPE = {"content-type": "application/json"}


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _with_value(family: str, body: Any, pnr: str) -> str:
    """Put the spelling in as a value; the JSON path the answer must name."""
    if family in ("classify", "timeline"):
        body["patient"]["ref"] = pnr
        return "patient.ref"
    if family == "batch":  # outside the items: the whole body is refused (an item's own: see below)
        body["ref"] = pnr
        return "ref"
    if family == "months":
        body["rows"][1]["unit"] = pnr
        return "rows[1].unit"
    body["yaml"] = EXAMPLE_FILE.replace("title:", f"title: {pnr} #", 1)
    return "yaml"


def _with_key(family: str, body: Any, pnr: str) -> str:
    """Put the spelling in as a key; the JSON path the answer must name (the key itself redacted)."""
    if family == "classify":
        body["contact"][pnr] = 1
        return f"contact.{REDACTED}"
    if family == "timeline":
        body["events"][0]["contact"][pnr] = "x"
        return f"events[0].contact.{REDACTED}"
    if family == "months":
        body["rows"][1][pnr] = "x"
        return f"rows[1].{REDACTED}"
    body[pnr] = 1
    return REDACTED


def send(http: Any, family: str, place: str, pnr: str) -> tuple[Any, str]:
    """One request of `family` with the spelling at `place`; the answer and the place it must name."""
    url, clean_body = FAMILIES[family]
    body, params, headers = _copy(clean_body), None, dict(JSON_TYPE)
    if place == "value" and family == "decisions":
        params, expected = {"from": pnr}, "query parameter 'from'"
    elif place == "key" and family == "decisions":
        params, expected = {pnr: "1"}, "query string (a parameter's name)"
    elif place == "value":
        expected = _with_value(family, body, pnr)
    elif place == "key":
        expected = _with_key(family, body, pnr)
    elif place == "path":
        url, expected = f"{url}/{quote(pnr, safe='')}", "path"
    elif place == "query":
        name = "limit" if family == "decisions" else "ref"
        params, expected = {name: pnr}, f"query parameter {name!r}"
    else:
        name = "x-request-id" if place == "x-request-id" else "x-patient"
        headers[name], expected = pnr.encode(), f"header {name!r}"  # type: ignore[assignment]
    content = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    r = http.request("GET" if body is None else "POST", url, params=params, headers=headers, content=content)
    return r, expected


def leaks(text: str, pnr: str) -> list[str]:
    """What of the spelling shows in `text`: the spelling, its digits, or anything the detector reads as one."""
    found = [part for part in (pnr, digits(pnr), digits(pnr)[-10:]) if part in text]
    return found + (["an identity-number-shaped value"] if looks_like_identity_number(text) else [])


def refusal_problems(r: Any, expected: str, pnr: str) -> list[str]:
    """Everything wrong with the answer to a request carrying an identity number at `expected`."""
    out = []
    if r.status_code != 422:
        out.append(f"status {r.status_code}")
    elif [(e["path"], e["type"]) for e in r.json()["errors"]] != [(expected, "identity_number")]:
        out.append(f"errors {r.json()['errors']}")
    out += [f"body echoes {x}" for x in leaks(r.text, pnr)]
    out += [f"headers echo {x}" for x in leaks("\n".join(f"{k}: {v}" for k, v in r.headers.items()), pnr)]
    return out


def _header_safe(pnr: str) -> bool:
    """A header cannot carry a line break (HTTP forbids it; no client sends one)."""
    return "\n" not in pnr and "\r" not in pnr


# ---- the detector ------------------------------------------------------------------------


def test_the_table_holds_the_corpus_this_round_and_the_generated_variants() -> None:
    sources = [s["source"] for s in listed()]
    assert sources.count("corpus") == 69 and sources.count("round 2") == 31 and len(generated()) == 225
    assert all(s["why"] for s in spellings())
    values = [s["value"] for s in spellings()]
    assert len(set(values)) == len(values)


@pytest.mark.parametrize("spelling", spellings(), ids=lambda s: f"{s['source']}: {s['why']}")
def test_the_detector_reads_every_spelling(spelling: dict[str, str]) -> None:
    pnr = spelling["value"]
    assert looks_like_identity_number(pnr)
    assert identity_number_paths({"a": [{"b": pnr}], pnr: 1}) == ["a[0].b", REDACTED]
    out = redact(f"/v1/patients/{pnr}/x")
    assert REDACTED in out and not looks_like_identity_number(out) and not leaks(out, pnr)


@pytest.mark.parametrize("value", [c["value"] for c in clean()])
def test_clean_values_pass_the_detector(value: str) -> None:
    assert not looks_like_identity_number(value)
    assert identity_number_paths({"ref": value, value: 1}, json.dumps({"ref": value, value: 1}).encode()) == []
    assert redact(f"/x/{value}") == f"/x/{value}"


@pytest.mark.parametrize("number", [1234567, 123456789, 2026.0226, -42])
def test_plain_numbers_pass(number: float) -> None:
    assert identity_number_paths({"n": number}) == []


def test_identity_numbers_written_as_json_numbers_are_found() -> None:
    body = b'{"a": 201203121234, "b": 20120312.1234, "c": 2.01203121234e11}'
    assert identity_number_paths(json.loads(body), body) == ["a", "b", "c"]


def test_a_json_body_with_only_escapes_or_other_digits_is_still_walked() -> None:
    """The raw-body pre-filter lets no spelling through: \\u escapes, non-ASCII digits, percent-encoding."""
    for raw in (rb'{"r": "\u0032\u0030\u0031\u0032\u0030\u0033\u0031\u0032-1234"}',
                '{"r": "١٢٠٣١٢-١٢٣٤"}'.encode(), b'{"r": "20120312%2D1234"}', b'{"r": "2012-03-12-1234"}'):
        assert identity_number_paths(json.loads(raw), raw) == ["r"], raw


# ---- refused everywhere, never echoed ------------------------------------------------------


@pytest.mark.parametrize("value", [c["value"] for c in clean()])
def test_clean_values_pass_everywhere(value: str) -> None:
    r = client.post("/v1/classify", json={**GOOD, "patient": {"ref": value}})
    assert r.status_code == 200, r.text
    r = client.get(f"/v1/patients/{quote(value, safe='')}", params={"from": value},
                   headers={"x-patient": value.encode(), "x-request-id": value.encode()})
    assert r.status_code == 404 and r.json()["errors"][0]["type"] == "not_found"


def test_a_plain_request_id_is_kept_and_one_holding_an_identity_number_is_replaced() -> None:
    assert client.get("/health", headers={"x-request-id": "2026-02-26T12:34:56"}).headers[
        "x-request-id"] == "2026-02-26T12:34:56"
    r = client.get("/health", headers={"x-request-id": "2012-03-12-1234"})
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "header 'x-request-id'"
    assert r.headers["x-request-id"] == r.json()["request_id"] and "1234" not in r.headers["x-request-id"]


def test_every_spelling_is_refused_everywhere_and_reaches_neither_the_log_nor_the_decision_log(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The listed spellings at every place of every endpoint family, the generated ones at one place each
    (in turn, so every place and family gets some), with the decision log on; then the log and the database."""
    db = tmp_path / "decisions.db"
    http = make_client(monkeypatch, f"sqlite:///{db}")
    cases = [(s["value"], f, p) for s in listed() for f in FAMILIES for p in PLACES]
    cases += [(s["value"], list(FAMILIES)[i % 6], PLACES[i // 6 % 6]) for i, s in enumerate(generated())]
    failures = []
    with caplog.at_level(logging.INFO):
        for family in FAMILIES:  # the log holds clean decisions too: the scan below reads real rows
            url, body = FAMILIES[family]
            if family in ("classify", "batch", "timeline"):
                assert http.post(url, json=body).status_code == 200
        for pnr, family, place in cases:
            if place in ("x-request-id", "header") and not _header_safe(pnr):
                continue
            r, expected = send(http, family, place, pnr)
            failures += [f"{family} {place} {pnr!a}: {p}" for p in refusal_problems(r, expected, pnr)]
    assert not failures, f"{len(failures)} failures, e.g.\n" + "\n".join(failures[:30])
    lines = [JsonFormatter().format(rec) for rec in caplog.records]
    assert len(lines) >= len(cases) - 20  # an access line for every request (a few headers cannot be sent)
    assert not [line for line in lines if looks_like_identity_number(line)]
    text = "\n".join(lines)
    assert not [pnr for pnr in {pnr for pnr, _, _ in cases} if pnr in text or digits(pnr) in text]
    log_of(http).close()
    _assert_no_identity_number_stored(db, {pnr for pnr, _, _ in cases}, decisions_at_least=3)


def _assert_no_identity_number_stored(db: Path, sent: set[str], decisions_at_least: int) -> None:
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))  # the file, its WAL, if any
    assert not [pnr for pnr in sent if pnr.encode() in raw or digits(pnr).encode() in raw]
    with sqlite3.connect(db) as conn:
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        cells = [c for t in tables for row in conn.execute(f'SELECT * FROM "{t}"') for c in row]
        assert conn.execute("SELECT count(*) FROM decisions").fetchone()[0] >= decisions_at_least
    texts = [c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c) for c in cells if c is not None]
    assert texts and not [t for t in texts if looks_like_identity_number(t)]


def test_a_batch_item_holding_one_is_refused_alone_and_never_echoed() -> None:
    for s in listed():
        pnr = s["value"]
        r = client.post("/v1/classify/batch", json={"items": [GOOD, {**GOOD, "patient": {"ref": pnr}}]})
        assert r.status_code == 200 and "rule" in r.json()["results"][0], pnr
        assert [(e["path"], e["type"]) for e in r.json()["results"][1]["errors"]] == [
            ("patient.ref", "identity_number")], pnr
        assert not leaks(r.text, pnr), pnr


def test_a_batch_item_refused_for_one_is_not_stored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    db = tmp_path / "decisions.db"
    http = make_client(monkeypatch, f"sqlite:///{db}")
    sent = {s["value"] for s in listed()[:10]}
    for pnr in sent:
        assert http.post("/v1/classify/batch", json={"items": [GOOD, {**GOOD, "patient": {"ref": pnr}}]}
                         ).status_code == 200
    log_of(http).close()
    _assert_no_identity_number_stored(db, sent, decisions_at_least=10)


# ---- the handlers behind the guard echo nothing either ---------------------------------------


def test_without_the_guard_the_decision_log_still_echoes_no_id_or_query_value(monkeypatch: pytest.MonkeyPatch,
                                                                               tmp_path: Path) -> None:
    """A decision id, `from` or `limit` holding an identity number is not repeated by /v1/decisions itself."""
    import api.app

    monkeypatch.setattr(api.app, "MIDDLEWARES", [api.app.AccessLog, api.app.auth.protect])
    http = make_client(monkeypatch, f"sqlite:///{tmp_path / 'd.db'}")
    try:
        for pnr in ("pnr 20120312-1234", "2012-03-12-1234", "１２0312-1234"):
            r = http.get(f"/v1/decisions/{quote(pnr)}")
            assert r.status_code == 404 and not leaks(r.text, pnr), r.text
            for name, value in (("from", f"x{pnr}"), ("limit", pnr)):  # (Python reads 20120312-1234 as a time)
                r = http.get("/v1/decisions", params={name: value})
                assert r.status_code == 422 and r.json()["errors"][0]["path"] == name and not leaks(r.text, pnr)
        r = http.get("/v1/decisions/no-such-id")
        assert "no decision 'no-such-id' in the log" in r.text  # an ordinary value is still shown
    finally:
        log_of(http).close()


def test_parameter_errors_never_echo_an_identity_number() -> None:
    """FastAPI's own 422 would carry each `input`; the service's shows a value only when it is not one."""
    with pytest.raises(ValidationError) as exc:
        TypeAdapter(int).validate_python("2012-03-12-1234")
    items = problems(exc.value.errors(include_url=False))
    assert items[0]["type"] == "int_parsing" and not leaks(json.dumps(items, ensure_ascii=False), "2012-03-12-1234")
    with pytest.raises(ValidationError) as exc:
        TypeAdapter(int).validate_python("abc")
    assert "'abc'" in problems(exc.value.errors(include_url=False))[0]["message"]


def test_a_fresh_request_id_never_reads_as_an_identity_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """About one random 16-hex-digit id in a thousand holds a date and four digits: such an id is drawn again."""
    import api.app

    drawn = iter(["ab201203121234cd", "1203121234abcdef", "c0eefd5e00fed7e2"])
    monkeypatch.setattr(api.app.secrets, "token_hex", lambda n: next(drawn))
    assert api.app.new_request_id() == "c0eefd5e00fed7e2"


def test_a_decision_id_never_reads_as_an_identity_number(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decision id is read back by its URL path, which the guard checks: one shaped like an identity number
    (its random part here holds 201203121234) is drawn again, or GET /v1/decisions/{id} could never find it."""
    from classifier.decisions import writer

    drawn = iter([bytes.fromhex("0000201203121234"), bytes.fromhex("0abc0def0abc0def")])
    monkeypatch.setattr(writer.os, "urandom", lambda n: next(drawn))
    found = writer.new_id()
    assert not looks_like_identity_number(found) and found.endswith("abc0def")


TRACE = "00-4bf92f3577b34da6a3ce201203121234-00f067aa0ba902b7-01"  # a trace id whose digits read as one


def test_a_well_formed_traceparent_is_not_refused_for_its_random_digits() -> None:
    """W3C trace context: tracing libraries draw random hex ids, and about one traceparent in 280 has twelve
    digits shaped like an identity number. A well-formed one is let through (never logged, echoed or stored);
    one that is not well-formed is checked like any header."""
    assert looks_like_identity_number(TRACE)
    assert client.get("/health", headers={"traceparent": TRACE}).status_code == 200
    r = client.get("/health", headers={"traceparent": "00-20120312-1234-01"})
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "header 'traceparent'"
    assert client.get("/health", headers={"tracestate": "vendor=201203121234"}).status_code == 422


def test_random_uuids_are_read_as_ids_not_identity_numbers() -> None:
    """One random UUID in 1,100 held a date and four digits between two hex letters; a group that mixes
    letters and digits is read as letters now. What is left: a group of digits only that is one (about
    one in 100,000, found with this seed's sample of 200,000 and not in this one of 20,000)."""
    import random
    import uuid

    rng = random.Random(20261205)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(20_000)]
    assert [u for u in ids if looks_like_identity_number(u)] == []
    assert [u for u in ids if looks_like_identity_number(u.upper())] == []
