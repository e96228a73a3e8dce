"""The service's edges in-process (TestClient): no request can crash it, stall it or leak through it.

Bad bodies get 4xx naming what was expected; identity numbers are refused wherever they
appear and never echoed; every answer and log line carries a request id; the worker
pool's bounds, time limit and cancellation (api/work.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.work import ClientGone, Limits, Overloaded, TimeLimit, Work
from classifier import Classifier
from classifier.classify import Cancelled
from classifier.privacy import identity_number_paths, looks_like_identity_number, redact
from tests.client import client
from tests.helpers import contact, request
from tests.identity_table import SEPARATORS  # the shared table's (tests/data/identity_spellings.json)

GOOD = request(contact("2026-02-26"), care_request={"received_date": "2026-02-02", "pathway": "A"})
JSON = {"content-type": "application/json"}


def post(path: str, body: object, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    r = client.post(path, content=json.dumps(body, ensure_ascii=False).encode(), headers=headers or JSON)
    return r.status_code, r.json()


# ---- 5. bad values: 4xx, never 500 ----------------------------------------------------------


@pytest.mark.parametrize("day", ["9999-12-31", "1899-12-31", "2101-01-01", "0001-01-01"])
def test_dates_outside_1900_to_2100_are_422(day: str) -> None:
    status, body = post("/v1/classify", {**GOOD, "contact": {**GOOD["contact"], "date": day}})
    assert status == 422 and "contact.date" in [e["path"] for e in body["errors"]]
    assert "1900-2100" in body["errors"][0]["message"]


def test_a_date_at_the_edge_of_the_range_is_classified() -> None:
    status, _ = post("/v1/classify", {**GOOD, "contact": {**GOOD["contact"], "date": "2100-12-31"},
                                      "care_request": {"received_date": "2100-12-01", "pathway": "A"}})
    assert status == 200


@pytest.mark.parametrize(("raw", "path", "kind"), [
    (b'{"contact": ' + b'{"a": ' * 20 + b"1" + b"}" * 20 + b"}", "contact" + ".a" * 9, "too_deep"),
    (b"[" * 2000 + b"]" * 2000, "$", "too_deep"),
    (b'{"contact": {"id": 123456789012345678901234567890}}', "contact.id", "number_too_large"),
    (b'{"contact": {"id": 1' + b"0" * 5000 + b"}}", "$", "number_too_large"),
    (b'{"contact": {"id": "\\ud800"}}', "$", "invalid_unicode"),
    (b'{"contact": {"id": "a", "id": "b"}}', "contact.id", "duplicate_key"),
    (b'{"items": [{"contact": {}}, {"contact": {"x": 1, "x": 2}}]}', "items[1].contact.x", "duplicate_key"),
    (b'{"a": "x\\u003ay", "a": 1}', "a", "duplicate_key"),
])
def test_shapes_no_model_needs_are_422_with_their_path(raw: bytes, path: str, kind: str) -> None:
    r = client.post("/v1/classify", content=raw, headers=JSON)
    assert r.status_code == 422, r.text
    assert [(e["path"], e["type"]) for e in r.json()["errors"]] == [(path, kind)]


def test_a_duplicate_key_is_refused_in_a_body_that_also_holds_an_identity_number() -> None:
    """Issue 22: the check was skipped for such a body, and `"pathway":"A","pathway":"C"` was classified as C."""
    marked = {**GOOD, "patient": {"ref": "20120312-1234"}}
    twice = json.dumps(GOOD).replace('"pathway": "A"', '"pathway": "A", "pathway": "C"')
    assert '"pathway": "C"' in twice
    raw = b'{"items": [' + json.dumps(marked).encode() + b", " + twice.encode() + b"]}"
    r = client.post("/v1/classify/batch", content=raw, headers=JSON)
    assert r.status_code == 422, r.text
    assert [(e["path"], e["type"]) for e in r.json()["errors"]] == [("items[1].care_request.pathway", "duplicate_key")]
    assert "1234" not in r.text
    # a repeated key that is itself an identity number is named without it
    r = client.post("/v1/classify", content=b'{"20120312-1234": 1, "20120312-1234": 2}', headers=JSON)
    assert r.status_code == 422 and r.json()["errors"][0]["type"] == "duplicate_key" and "1234" not in r.text


def test_colons_inside_strings_are_not_duplicate_keys() -> None:
    req = {**GOOD, "patient": {"ref": "a:b:c\\u003a"}, "contact": {**GOOD["contact"], "id": "x:y"}}
    raw = json.dumps(req).replace("a:b", "a\\u003ab").encode()
    assert client.post("/v1/classify", content=raw, headers=JSON).status_code == 200


def test_one_item_that_breaks_anything_does_not_fail_the_batch(monkeypatch, caplog) -> None:
    clf = Classifier()
    real = clf.engine.decide
    calls = iter(range(100))

    def decide(facts):
        if next(calls) == 1:
            raise KeyError("contact-secret-7")  # any exception, its message quoting input
        return real(facts)

    monkeypatch.setattr(clf.engine, "decide", decide)
    with caplog.at_level(logging.ERROR, logger="bup_classifier"):
        results = clf.classify_batch({"items": [GOOD, GOOD, GOOD]})["results"]
    assert results[1] == {"index": 1, "errors": [
        {"path": "$", "message": "the service failed on this item; it was not classified", "type": "internal"}]}
    assert results[0]["rule"]["id"] == results[2]["rule"]["id"] == "N1"
    assert any(r.exc_info for r in caplog.records), "the traceback is logged"


def test_a_batch_stops_between_items_when_cancelled(classifier) -> None:
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        classifier.classify_batch({"items": [GOOD] * 3}, stop)
    with pytest.raises(Cancelled):
        classifier.classify_timeline({"events": [{"type": "care_closed", "date": "2026-01-01"}]}, stop)


# ---- 12. media type and encoding -------------------------------------------------------------


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/vnd.api+json", "application/problem+json",
                                   "application/json; charset=latin-1", "application/json; charset=utf-16",
                                   "application/json; foo=bar", "application/jsonx"])
def test_only_application_json_in_utf8_is_accepted(ctype: str | None) -> None:
    headers = {"content-type": ctype} if ctype else {}
    r = client.post("/v1/classify", content=json.dumps(GOOD).encode(), headers=headers)
    assert r.status_code == 415 and r.json()["errors"][0]["type"] == "unsupported_media_type"


@pytest.mark.parametrize("ctype", ["application/json", "application/json; charset=utf-8",
                                   "Application/JSON; Charset=\"UTF-8\""])
def test_application_json_with_or_without_charset_utf8(ctype: str) -> None:
    assert client.post("/v1/classify", content=json.dumps(GOOD).encode(), headers={"content-type": ctype}
                       ).status_code == 200


@pytest.mark.parametrize("encode", [
    lambda s: s.encode("utf-16"), lambda s: s.encode("utf-16-le"), lambda s: s.encode("utf-32"),
    lambda s: s.encode("utf-32-be"), lambda s: b"\xef\xbb\xbf" + s.encode()])
def test_utf16_utf32_and_a_bom_are_415(encode) -> None:
    r = client.post("/v1/classify", content=encode(json.dumps(GOOD)), headers=JSON)
    assert r.status_code == 415, r.text


# ---- 10. request ids and the 500 ----------------------------------------------------------------


def test_every_answer_has_a_request_id_and_errors_carry_it() -> None:
    ok = client.post("/v1/classify", json=GOOD)
    bad = client.post("/v1/classify", json={})
    assert ok.headers["x-request-id"] and bad.headers["x-request-id"] != ok.headers["x-request-id"]
    assert bad.json()["request_id"] == bad.headers["x-request-id"]
    assert client.get("/health").headers["x-request-id"]
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and missing.json()["request_id"] == missing.headers["x-request-id"]


def test_a_plain_request_id_from_the_caller_is_kept_and_any_other_replaced() -> None:
    assert client.get("/health", headers={"x-request-id": "journal-42.a:b"}).headers["x-request-id"] == "journal-42.a:b"
    for given_id in ("19800101-1234", "a b", "x" * 65, "<script>"):
        got = client.get("/health", headers={"x-request-id": given_id}).headers["x-request-id"]
        assert got != given_id and len(got) == 16


def test_a_500_logs_its_traceback_and_request_id_but_never_the_body(monkeypatch, caplog) -> None:
    def boom(_self, payload):
        raise ValueError(f"failed on {payload['contact']['id']}")

    # On the class: the app holds the classifier it was built with (another test may have cleared
    # default_classifier's cache since, so default_classifier() need not be that object).
    monkeypatch.setattr(Classifier, "classify", boom)
    secret = "contact-id-9f8e7d"
    with caplog.at_level(logging.INFO, logger="bup_classifier"):
        r = client.post("/v1/classify", json={**GOOD, "contact": {**GOOD["contact"], "id": secret}})
    assert r.status_code == 500 and r.json()["request_id"] == r.headers["x-request-id"]
    assert secret not in r.text
    from api.server import JsonFormatter

    lines = [JsonFormatter().format(rec) for rec in caplog.records]
    assert all(secret not in line for line in lines)
    errors = [json.loads(line) for line in lines if '"internal_error"' in line]
    assert len(errors) == 1 and errors[0]["exception"] == "ValueError"
    assert errors[0]["request_id"] == r.headers["x-request-id"]
    assert any("in boom" in frame for frame in errors[0]["traceback"])
    access = [json.loads(line) for line in lines if '"status"' in line]
    assert access[-1]["status"] == 500 and access[-1]["request_id"] == r.headers["x-request-id"]


# ---- 11. identity numbers: anywhere, any separator, never echoed ---------------------------------



@st.composite
def identity_numbers(draw: st.DrawFn) -> str:
    """A personnummer or samordningsnummer in any of its written forms."""
    born = draw(st.dates(min_value=__import__("datetime").date(1900, 1, 1),
                         max_value=__import__("datetime").date(2026, 12, 31)))
    day = born.day + (60 if draw(st.booleans()) else 0)
    century = draw(st.booleans())
    head = f"{born.year if century else born.year % 100:0{4 if century else 2}d}{born.month:02d}{day:02d}"
    return head + draw(st.sampled_from(SEPARATORS)) + f"{draw(st.integers(0, 9999)):04d}"


PLACES = ["patient.ref", "contact.id", "contact.health_problem", "key", "nested_key", "integer", "history"]
ENDPOINTS = ["/v1/classify", "/v1/classify/batch", "/v1/classify/timeline", "/v1/reports/monthly",
             "/workbench/example"]


def _with_identity(pnr: str, place: str, text: str) -> dict:
    req = json.loads(json.dumps(GOOD))
    value = f"{text}{pnr}{text}"
    if place == "patient.ref":
        req["patient"] = {"ref": value}
    elif place == "contact.id":
        req["contact"]["id"] = value
    elif place == "contact.health_problem":
        req["contact"]["health_problem"] = value
    elif place == "key":
        req[value] = 1
    elif place == "nested_key":
        req["contact"][pnr] = "x"
    elif place == "integer":
        digits = "".join(c for c in pnr if c.isdigit())
        req["patient"] = {"ref": int(digits if digits[0] != "0" else "20" + digits)}  # a number keeps no leading 0
    else:
        req["history"] = [{"type": "care_closed", "date": "2026-01-01", "note": [value]}]
    return req


def _body_for(endpoint: str, req: dict) -> dict:
    if endpoint == "/v1/classify/batch":
        return {"items": [GOOD, req]}
    if endpoint == "/v1/classify/timeline":
        contact_event = {"type": "contact", **{k: v for k, v in req.items() if k not in ("history", "patient")}}
        return {"patient": req.get("patient"), "events": [*req["history"], contact_event]}
    if endpoint == "/v1/reports/monthly":
        return {"year": 2025, "completed": [req], "shares": {"R": 0.5}}
    return {"title": "t", "story": "s", "request": req}


@given(pnr=identity_numbers(), place=st.sampled_from(PLACES), endpoint=st.sampled_from(ENDPOINTS),
       text=st.sampled_from(["", "ref ", "x:"]))
def test_an_identity_number_is_refused_everywhere_and_never_echoed(pnr: str, place: str, endpoint: str,
                                                                   text: str) -> None:
    assert looks_like_identity_number(pnr)
    body = _body_for(endpoint, _with_identity(pnr, place, text))
    r = client.post(endpoint, content=json.dumps(body, ensure_ascii=False).encode(), headers=JSON)
    answer = r.json()
    errors = answer["results"][1]["errors"] if endpoint == "/v1/classify/batch" else answer["errors"]
    if endpoint == "/v1/classify/batch":
        assert r.status_code == 200 and "rule" in answer["results"][0], "the other item is answered"
    else:
        assert r.status_code == 422, r.text
    assert [e["type"] for e in errors] == ["identity_number"] and all(e["path"] for e in errors)
    digits = "".join(c for c in pnr if c.isdigit())
    for part in (pnr, digits, digits[-10:]):
        assert part not in r.text and part not in json.dumps(answer)


@given(pnr=identity_numbers())
def test_redact_removes_every_identity_number(pnr: str) -> None:
    out = redact(f"/v1/patients/{pnr}/x")
    assert not looks_like_identity_number(out) and "<redacted>" in out


near_misses = st.one_of(
    st.dates().map(lambda d: d.isoformat()),  # 2026-02-26: a date is not an identity number
    st.integers(0, 999_999_999).map(str),  # at most 9 digits
    st.integers(0, 999_999_999),
    st.dates().map(lambda d: f"{d.isoformat()} 12:34"),
    st.text(alphabet="abcdefXYZ -_:", max_size=30),
)


@given(value=near_misses)
def test_near_misses_are_not_identity_numbers(value: str | int) -> None:
    assert identity_number_paths({"ref": value}) == []
    if isinstance(value, str) and value.strip() and len(value) <= 200:
        assert post("/v1/classify", {**GOOD, "patient": {"ref": value}})[0] == 200


def test_a_path_with_an_identity_number_is_logged_redacted(caplog) -> None:
    with caplog.at_level(logging.INFO, logger="bup_classifier.access"):
        r = client.get("/v1/patients/19800101-1234")
    assert r.status_code == 422 and "1234" not in r.text and r.json()["errors"][0]["path"] == "path"
    line = [rec.msg for rec in caplog.records if isinstance(rec.msg, dict)][-1]
    assert line["path"] == "/v1/patients/<redacted>" and line["status"] == 422


# ---- 7. the execution model --------------------------------------------------------------------


def _work(**kw: float) -> Work:
    return Work(Limits(**{"threads": 2, "max_heavy": 1, "max_queued": 4, "time_limit": 5.0, **kw}))


def test_a_full_pool_answers_overloaded_at_once_and_frees_its_slot() -> None:
    async def scenario() -> None:
        work, release = _work(), threading.Event()
        first = asyncio.ensure_future(work.run(None, True, lambda c: release.wait(5)))
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded):
            await work.run(None, True, lambda c: "heavy")
        assert await work.run(None, False, lambda c: "light") == "light", "light work still has room"
        release.set()
        assert await first is True
        assert await work.run(None, True, lambda c: "heavy") == "heavy"
        work.shutdown()

    asyncio.run(scenario())


def test_the_time_limit_stops_the_job_and_the_slot_is_held_until_it_stopped() -> None:
    seen: dict[str, float] = {}

    def job(cancelled: threading.Event) -> None:
        while not cancelled.is_set():
            time.sleep(0.01)
        seen["stopped"] = time.monotonic()

    async def scenario() -> None:
        work = _work(time_limit=0.2)
        start = time.monotonic()
        with pytest.raises(TimeLimit):
            await work.run(None, True, job)
        assert 0.15 < time.monotonic() - start < 2
        await asyncio.sleep(0.1)
        assert "stopped" in seen and work.heavy == 0 and work.queued == 0
        work.shutdown()

    asyncio.run(scenario())


def test_a_client_that_goes_away_stops_its_job() -> None:
    stopped = threading.Event()

    def job(cancelled: threading.Event) -> None:
        cancelled.wait(5)
        stopped.set()

    async def scenario() -> None:
        async def receive() -> dict:
            await asyncio.sleep(0.1)
            return {"type": "http.disconnect"}

        work = _work()
        with pytest.raises(ClientGone):
            await work.run(receive, True, job)
        assert await asyncio.to_thread(stopped.wait, 2)
        work.shutdown()

    asyncio.run(scenario())
