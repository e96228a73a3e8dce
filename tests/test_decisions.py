"""The decision log end to end: recorded answers, read back, filters, pages, digest mode,
the audit role, 503 or spool when the database fails, export and purge, on SQLite and on
a real PostgreSQL server; rule sets by validity date; impact."""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import json
import os
import signal
import sqlite3
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from api.security import Caller
from classifier import rulesets
from classifier.cli import main
from classifier.decisions import store, writer
from classifier.decisions.writer import new_id

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def contact(day: str, cid: str = "c-1", received: str | None = None) -> dict[str, Any]:
    received = received or (dt.date.fromisoformat(day) - dt.timedelta(days=24)).isoformat()
    return {"patient": {"ref": "p-17"},
            "contact": {"id": cid, "date": day, "setting": "bup", "activity": "assessment", "health_problem": "F41"},
            "care_request": {"received_date": received, "pathway": "A"}}


TIMELINE = {"patient": {"ref": "p-9"}, "events": [
    {"type": "contact", "contact": {"id": "t-1", "date": "2026-02-26", "setting": "bup", "activity": "assessment",
                                    "health_problem": "F90"},
     "care_request": {"received_date": "2026-02-02", "pathway": "A"}},
    {"type": "contact", "contact": {"id": "t-2", "date": "2026-03-20", "setting": "bup", "activity": "investigation",
                                    "health_problem": "F90"}}]}


@pytest.fixture(params=["sqlite", "postgresql"])
def log_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'decisions.db'}"
    pg = request.getfixturevalue("postgres")
    engine = store.engine_for(pg.url)
    store.migrate(engine)
    with engine.begin() as conn:  # each test starts from an empty log
        conn.execute(sa.text("DELETE FROM decision_contacts"))
        conn.execute(sa.text("DELETE FROM decisions"))
    engine.dispose()
    return pg.url


class AsCaller:
    """Stands in for the auth layer: puts an authenticated caller into the ASGI scope."""

    def __init__(self, app: Any, who: Caller):
        self.app, self.who = app, who

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["bup.caller"] = self.who
        await self.app(scope, receive, send)


def make_client(monkeypatch: pytest.MonkeyPatch, url: str | None, who: Caller | None = None, **env: str) -> TestClient:
    from api.app import create_app

    monkeypatch.delenv("BUP_DECISION_LOG", raising=False)
    if url:
        monkeypatch.setenv("BUP_DECISION_LOG", url)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    app = create_app()
    return TestClient(AsCaller(app, who) if who else app, raise_server_exceptions=False)


def log_of(client: TestClient) -> Any:
    app = client.app
    while not hasattr(app, "state"):
        app = app.app
    return app.state.decision_log


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch, log_url: str) -> Iterator[TestClient]:
    client = make_client(monkeypatch, log_url)
    yield client
    log_of(client).close()


def test_log_off_answers_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    client = make_client(monkeypatch, None)
    r = client.post("/v1/classify", json=contact("2026-02-26"))
    assert r.status_code == 200 and "decision_id" not in r.json() and "x-decision-id" not in r.headers
    r = client.get("/v1/decisions")
    assert r.status_code == 404 and r.json()["errors"][0]["type"] == "log_off"


def test_the_log_is_closed_when_the_app_stops(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The app's lifespan ends by closing its log: the writer commits what it has and its process ends."""
    client = make_client(monkeypatch, f"sqlite:///{tmp_path / 'd.db'}")
    with client:  # the lifespan runs: start-up, then shutdown at the end of the block
        r = client.post("/v1/classify", json=contact("2026-02-26"))
        log = log_of(client)
        proc = log._proc
        assert r.status_code == 200 and proc is not None and proc.poll() is None
    assert log._closed and proc.poll() is not None
    with log.engine.connect() as conn:
        assert store.get(conn, r.headers["x-decision-id"]) is not None


def test_every_answer_is_recorded_and_read_back(logged: TestClient) -> None:
    req, batch = contact("2026-02-26"), {"items": [contact("2026-02-26", "b-1"), {"contact": {}}]}
    answers = {
        "classify": (req, logged.post("/v1/classify", json=req)),
        "batch": (batch, logged.post("/v1/classify/batch", json=batch)),
        "timeline": (TIMELINE, logged.post("/v1/classify/timeline", json=TIMELINE)),
    }
    for kind, (payload, r) in answers.items():
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["decision_id"] == r.headers["x-decision-id"]
        rec = logged.get(f"/v1/decisions/{body['decision_id']}").json()
        assert rec["kind"] == kind and rec["caller"] == "anonymous" and rec["stored"] == "request"
        if kind == "batch":  # the refused item leaves its index and error codes only (issue 22)
            payload = {"items": [batch["items"][0], None]}
            body = {**body, "results": [body["results"][0], {"index": 1, "errors": [
                {"type": e["type"]} for e in body["results"][1]["errors"]]}]}
        assert rec["request"] == payload and rec["answer"] == body
        assert rec["request_sha256"] == hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()
        results = [body] if kind == "classify" else [x for x in body["results"] if "contact_type" in x]
        assert [(c["contact_type"], c["rule"]) for c in rec["contacts"]] == [
            (x["contact_type"], x["rule"]["id"]) for x in results]
        status = rulesets.default_rulesets().ruleset.status
        for c, x in zip(rec["contacts"], results, strict=True):
            assert c["ruleset"] == {**x["ruleset"], "status": status}
        recorded = dt.datetime.fromisoformat(rec["recorded_at"].replace("Z", "+00:00"))
        assert abs((dt.datetime.now(dt.UTC) - recorded).total_seconds()) < 60
    assert answers["timeline"][1].json()["results"][1]["contact_type"] == "investigation"
    assert [c["contact_date"] for c in logged.get(
        f"/v1/decisions/{answers['timeline'][1].json()['decision_id']}").json()["contacts"]] == [
        "2026-02-26", "2026-03-20"]
    missing = logged.get(f"/v1/decisions/{new_id()}")
    assert missing.status_code == 404 and missing.json()["errors"][0]["path"] == "decision_id"


def test_a_refused_batch_item_leaves_no_trace_but_its_index_and_error_codes(logged: TestClient) -> None:
    """Issue 22 item 2: the attack round found a refused item's identity number in the stored batch."""
    pnr = "20120312-1234"
    marked = contact("2026-02-26", "zz-2")
    marked["patient"] = {"ref": pnr}
    invalid = {**contact("2026-02-26", "zz-3"), "note": "secret-word"}
    batch = {"items": [contact("2026-02-26", "b-1"), marked, invalid, contact("2026-03-02", "b-4")]}
    r = logged.post("/v1/classify/batch", json=batch)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x.get("index") for x in results] == [None, 1, 2, None]
    assert [e["type"] for e in results[1]["errors"]] == ["identity_number"]
    rec = logged.get(f"/v1/decisions/{r.headers['x-decision-id']}").json()
    assert rec["request"] == {"items": [batch["items"][0], None, None, batch["items"][3]]}
    assert rec["answer"]["results"][1:3] == [{"index": 1, "errors": [{"type": "identity_number"}]},
                                             {"index": 2, "errors": [{"type": "extra_forbidden"}]}]
    assert [c["position"] for c in rec["contacts"]] == [0, 3]
    assert [c["contact_date"] for c in rec["contacts"]] == ["2026-02-26", "2026-03-02"]
    # the database itself: no row of any table holds the refused items' values, in any spelling
    with log_of(logged).engine.connect() as conn:
        rows = [str(row) for table in ("decisions", "decision_contacts")
                for row in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    # ids with a letter no UUID holds: "b-3" was once found inside a random decision id
    refused = ("20120312", "0312-1234", "secret-word", "zz-2", "zz-3")
    assert rows and not any(word in row for row in rows for word in refused)


def test_a_logged_batch_replays_its_refused_items_as_refused(logged: TestClient, log_url: str) -> None:
    """The impact of a rule change reads such a batch back: the null items stay refused, the others compare."""
    from classifier.decisions import replay

    batch = {"items": [contact("2026-02-26", "b-1"), {"contact": {}}, contact("2026-03-02", "b-3")]}
    assert logged.post("/v1/classify/batch", json=batch).status_code == 200
    [case] = list(replay.from_log(log_url))
    answer = replay.answer_of(rulesets.default_rulesets(), "batch", case.payload)
    assert answer is not None
    assert [None if x is None else x["contact_type"] for x in replay.per_contact("batch", answer, 3)] == [
        None if x is None else x["contact_type"] for x in replay.per_contact("batch", case.logged, 3)]
    assert answer["results"][1] == {"index": 1, "errors": []} and "contact_type" in answer["results"][2]


def test_a_rejected_request_is_not_a_decision(logged: TestClient) -> None:
    r = logged.post("/v1/classify", json={"contact": {"id": "x"}})
    assert r.status_code == 422 and "x-decision-id" not in r.headers
    assert logged.get("/v1/decisions").json()["decisions"] == []


def test_listing_filters_and_pages(logged: TestClient) -> None:
    ids = [logged.post("/v1/classify", json=contact("2026-02-26", f"c-{i}")).json()["decision_id"] for i in range(5)]
    ids.append(logged.post("/v1/classify/timeline", json=TIMELINE).json()["decision_id"])
    seen, cursor = [], None
    for _ in range(10):
        page = logged.get("/v1/decisions", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [d["decision_id"] for d in page["decisions"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids  # recording order, each exactly once
    only = lambda **q: [d["decision_id"] for d in logged.get("/v1/decisions", params=q).json()["decisions"]]  # noqa: E731
    assert only(contact_type="investigation") == ids[-1:]
    assert only(rule="N1") == ids  # the timeline's first contact fires N1 too
    version = rulesets.default_rulesets().ruleset.version
    assert only(ruleset_version=version) == ids and only(ruleset_version="1999.1") == []
    assert only(caller="anonymous") == ids and only(caller="someone-else") == []
    today = dt.datetime.now(dt.UTC).date()
    assert only(**{"from": today.isoformat(), "to": today.isoformat()}) == ids
    assert only(**{"to": (today - dt.timedelta(days=1)).isoformat()}) == []
    bad = logged.get("/v1/decisions", params={"from": "yesterday"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "from"
    assert logged.get("/v1/decisions", params={"cursor": "nope"}).json()["errors"][0]["path"] == "cursor"
    assert logged.get("/v1/decisions", params={"limit": 0}).status_code == 422


def test_digest_mode_keeps_no_request(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    client = make_client(monkeypatch, f"sqlite:///{tmp_path / 'd.db'}", BUP_DECISION_LOG_STORE="digest")
    req = contact("2026-02-26")
    body = client.post("/v1/classify", json=req).json()
    rec = client.get(f"/v1/decisions/{body['decision_id']}").json()
    assert rec["stored"] == "digest" and rec["request"] is None
    assert rec["request_sha256"] == hashlib.sha256(orjson.dumps(req, option=orjson.OPT_SORT_KEYS)).hexdigest()
    assert rec["answer"]["facts"] == body["facts"] and "p-17" not in json.dumps(rec)


def test_caller_is_recorded_and_reading_needs_the_audit_role(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    journal = make_client(monkeypatch, url, Caller("journal-take", frozenset({"classify"})))
    r = journal.post("/v1/classify", json=contact("2026-02-26"))
    assert r.status_code == 200
    assert journal.get(f"/v1/decisions/{r.json()['decision_id']}").status_code == 403
    assert journal.get("/v1/decisions").status_code == 403
    auditor = make_client(monkeypatch, url, Caller("auditor", frozenset({"audit"})))
    assert auditor.get(f"/v1/decisions/{r.json()['decision_id']}").json()["caller"] == "journal-take"


def _break(url: str) -> None:
    engine = store.engine_for(url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE decisions RENAME TO decisions_away"))
    engine.dispose()


def _mend(url: str) -> None:
    engine = store.engine_for(url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE decisions_away RENAME TO decisions"))
    engine.dispose()


def test_no_answer_when_the_decision_cannot_be_recorded(monkeypatch: pytest.MonkeyPatch, log_url: str) -> None:
    client = make_client(monkeypatch, log_url)
    assert client.post("/v1/classify", json=contact("2026-02-26")).status_code == 200
    _break(log_url)
    try:
        r = client.post("/v1/classify", json=contact("2026-02-26"))
        assert r.status_code == 503 and "contact_type" not in r.text
        assert r.json()["errors"][0]["type"] == "decision_log_unavailable"
    finally:
        _mend(log_url)
    assert client.post("/v1/classify", json=contact("2026-02-26")).status_code == 200
    log_of(client).close()


def _until_answered(client: TestClient, seconds: float = 10.0) -> tuple[list[int], Any]:
    """Post until a 200 comes back (bounded); every status seen, and the last answer."""
    statuses, deadline = [], time.monotonic() + seconds
    while True:
        r = client.post("/v1/classify", json=contact("2026-02-26"))
        statuses.append(r.status_code)
        if r.status_code == 200 or time.monotonic() > deadline:
            return statuses, r
        time.sleep(0.1)


def test_a_writer_process_that_dies_is_noticed_and_replaced(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    client = make_client(monkeypatch, url)
    log = log_of(client)
    first = client.post("/v1/classify", json=contact("2026-02-26")).json()["decision_id"]
    old = log.writer_pid
    os.kill(old, signal.SIGKILL)
    statuses, r = _until_answered(client)
    assert set(statuses) <= {200, 503} and statuses[-1] == 200, statuses  # refused, never answered unrecorded
    assert log.writer_pid not in (None, old)
    log.close()
    engine = store.engine_for(url)
    with engine.connect() as conn:
        assert sorted(store.ids(conn)) == sorted([first, r.json()["decision_id"]])
    engine.dispose()


def test_what_a_writer_acknowledged_before_it_ended_is_answered(tmp_path: Path) -> None:
    """Several writes may be in flight: when the writer is lost, the acknowledgements it sent before it
    ended (committed decisions) are settled first, and only the rest are refused."""
    from classifier import Classifier

    url = f"sqlite:///{tmp_path / 'd.db'}"
    log, decision_id = writer.DecisionLog(url), new_id()
    request = contact("2026-02-26")
    answer = {**Classifier().classify(request), "decision_id": decision_id}
    engine = store.engine_for(url)

    async def scenario() -> None:
        task = asyncio.ensure_future(log.record(decision_id, "t", "classify", orjson.dumps(request),
                                                orjson.dumps(answer)))
        await asyncio.sleep(0)  # the decision is handed over; the task waits for its acknowledgement
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the loop is blocked: nobody reads the acknowledgement
            with engine.connect() as conn:
                if decision_id in store.ids(conn):
                    break
            time.sleep(0.05)
        time.sleep(0.2)  # the acknowledgement follows the commit
        log._lost("a test")
        await task  # committed and acknowledged before the writer was lost: answered, not refused

    try:
        asyncio.run(scenario())
    finally:
        log.close()
        engine.dispose()


def test_a_writer_that_does_not_answer_gets_503_not_a_hang(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    client = make_client(monkeypatch, f"sqlite:///{tmp_path / 'd.db'}", BUP_DECISION_LOG_TIMEOUT="1")
    log = log_of(client)
    assert _until_answered(client)[0][-1] == 200  # the writer started (on a loaded machine that may take over 1 s)
    os.kill(log.writer_pid, signal.SIGSTOP)
    try:
        start = time.monotonic()
        r = client.post("/v1/classify", json=contact("2026-02-26"))
        assert r.status_code == 503 and r.json()["errors"][0]["type"] == "decision_log_unavailable"
        assert time.monotonic() - start < 12  # the 1 s bound (room for a loaded machine), not the 30 s default
    finally:
        os.kill(log.writer_pid, signal.SIGCONT)
    statuses, _ = _until_answered(client)
    assert statuses[-1] == 200, statuses
    log.close()


def test_openapi_shows_the_decision_id_and_the_503(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from classifier.models import BatchResponse, Classification, TimelineResponse

    spec = make_client(monkeypatch, None).get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for name in ("Classification", "BatchResponse", "TimelineResponse"):
        assert schemas[name]["properties"]["decision_id"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
        assert "decision_id" not in schemas[name].get("required", [])
    for path in ("/v1/classify", "/v1/classify/batch", "/v1/classify/timeline"):
        answers = spec["paths"][path]["post"]["responses"]
        assert "decision_log_unavailable" in answers["503"]["description"]
        assert answers["503"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
    assert "decision_log" not in spec["paths"]["/v1/reports/monthly"]["post"]["responses"]["503"]["description"]
    client = make_client(monkeypatch, f"sqlite:///{tmp_path / 'd.db'}")
    for path, model, body in (("/v1/classify", Classification, contact("2026-02-26")),
                              ("/v1/classify/batch", BatchResponse, {"items": [contact("2026-02-26")]}),
                              ("/v1/classify/timeline", TimelineResponse, TIMELINE)):
        r = client.post(path, json=body)
        assert model.model_validate(r.json()).decision_id == r.headers["x-decision-id"]
    log_of(client).close()


def test_spool_keeps_answering_and_loses_nothing(monkeypatch: pytest.MonkeyPatch, log_url: str,
                                                 tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    client = make_client(monkeypatch, log_url, BUP_DECISION_LOG_SPOOL=str(spool))
    _break(log_url)
    try:
        ids = [client.post("/v1/classify", json=contact("2026-02-26", f"s-{i}")).json()["decision_id"]
               for i in range(3)]
        assert list(spool.glob("*.jsonl"))
    finally:
        _mend(log_url)
    ids.append(client.post("/v1/classify", json=contact("2026-02-26")).json()["decision_id"])
    log_of(client).close()  # the writer replays the spool once the database answers again (at the latest here)
    engine = store.engine_for(log_url)
    with engine.connect() as conn:
        logged = store.ids(conn)
    engine.dispose()
    assert sorted(logged) == sorted(ids) and not list(spool.glob("*.jsonl"))


def test_export_and_purge(monkeypatch: pytest.MonkeyPatch, log_url: str, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    client = make_client(monkeypatch, log_url)
    ids = [client.post("/v1/classify", json=contact("2026-02-26", f"e-{i}")).json()["decision_id"] for i in range(3)]
    log_of(client).close()
    old = new_id()
    engine = store.engine_for(log_url)
    with engine.begin() as conn:
        store.write(conn, [{"decision": {"decision_id": old, "recorded_at": "2020-01-01T00:00:00+00:00",
                                         "caller": "x", "kind": "classify", "stored": "digest",
                                         "request_sha256": "0" * 64, "request": None, "answer": "{}"},
                            "contacts": [{"decision_id": old, "position": 0, "contact_date": "2019-12-01",
                                          "contact_type": "acute", "rule": "A1", "ruleset_name": "n",
                                          "ruleset_version": "v", "ruleset_status": "released",
                                          "ruleset_sha256": "0" * 64}]}])
    engine.dispose()
    out = tmp_path / "export.jsonl"
    assert main(["decisions", "export", "--log", log_url, "--out", str(out)]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["decision_id"] for x in lines] == [*ids, old]  # id order is recording order; `old` was made last
    assert main(["decisions", "export", "--log", log_url, "--rule", "A1"]) == 0
    assert [json.loads(x)["decision_id"] for x in capsys.readouterr().out.splitlines()] == [old]
    assert main(["decisions", "purge", "--log", log_url, "--older-than-days", "365"]) == 0
    assert "purged 1 decision(s)" in capsys.readouterr().out
    engine = store.engine_for(log_url)
    with engine.connect() as conn:
        assert sorted(store.ids(conn)) == sorted(ids)
        assert conn.execute(sa.text("SELECT count(*) FROM decision_contacts")).scalar() == 3
    engine.dispose()


@given(st.integers(min_value=2, max_value=300))
def test_decision_ids_are_unique_and_in_time_order(n: int) -> None:
    ids = [new_id() for _ in range(n)]
    assert ids == sorted(ids) and len(set(ids)) == n
    assert all(x[14] == "7" for x in ids)  # UUID version 7


# -- rule sets by validity date -------------------------------------------------------------


@pytest.fixture
def two_sets(rules_copy: Path) -> rulesets.RuleSets:
    text = (rules_copy / "ruleset.yaml").read_text()
    text = text.replace('version: "2026.3"', 'version: "2027.1"').replace(
        'valid_from: "2025-01-01"', 'valid_from: "2027-01-01"').replace("limit_days: 30", "limit_days: 20")
    (rules_copy / "ruleset.yaml").write_text(text)
    return rulesets.load_all([str(rulesets.default_rulesets().ruleset.directory), str(rules_copy)])


def test_a_contact_is_classified_by_the_set_valid_on_its_date(two_sets: rulesets.RuleSets) -> None:
    assert two_sets.classify(contact("2026-12-30"))["ruleset"]["version"] == "2026.3"
    later = two_sets.classify(contact("2027-01-26"))
    assert later["ruleset"]["version"] == "2027.1" and later["wait"]["limit_days"] == 20
    assert later["wait"]["in_numerator"] is False  # 24 days: within 30, not within 20
    named = two_sets.classify({**contact("2027-01-26"), "ruleset_version": "2026.3"})
    assert named["ruleset"]["version"] == "2026.3" and named["wait"]["in_numerator"] is True
    from classifier.errors import InputError

    with pytest.raises(InputError) as exc:
        two_sets.classify({**contact("2027-01-26"), "ruleset_version": "2030.9"})
    assert exc.value.errors[0]["path"] == "ruleset_version"
    batch = two_sets.classify_batch({"items": [contact("2026-06-01"), contact("2027-06-01")]})
    assert [r["ruleset"]["version"] for r in batch["results"]] == ["2026.3", "2027.1"]
    tl = copy.deepcopy(TIMELINE)
    tl["events"][1]["contact"]["date"] = "2027-01-10"
    results = two_sets.classify_timeline(tl)["results"]
    assert [r["ruleset"]["version"] for r in results] == ["2026.3", "2027.1"]
    assert results[1]["contact_type"] == "investigation"
    described = two_sets.describe()
    assert [(s["version"], s["valid_from"]) for s in described["rulesets"]] == [
        ("2026.3", "2025-01-01"), ("2027.1", "2027-01-01")]
    assert described["version"] == two_sets.default.ruleset.version and described["rules"]


def test_serve_holds_several_rule_sets(monkeypatch: pytest.MonkeyPatch, two_sets: rulesets.RuleSets,
                                       tmp_path: Path) -> None:
    monkeypatch.setenv("BUP_RULES_DIR", ":".join(str(c.ruleset.directory) for c in two_sets.classifiers))
    rulesets.default_rulesets.cache_clear()
    try:
        client = make_client(monkeypatch, f"sqlite:///{tmp_path / 'd.db'}")
        assert [s["version"] for s in client.get("/v1/ruleset").json()["rulesets"]] == ["2026.3", "2027.1"]
        body = client.post("/v1/classify", json=contact("2027-02-01")).json()
        assert body["ruleset"]["version"] == "2027.1"
        rec = client.get(f"/v1/decisions/{body['decision_id']}").json()
        assert rec["contacts"][0]["ruleset"]["version"] == "2027.1"
        assert client.post("/v1/classify", json={**contact("2027-02-01"), "ruleset_version": "x"}).json()[
            "errors"][0]["path"] == "ruleset_version"
    finally:
        monkeypatch.delenv("BUP_RULES_DIR")
        rulesets.default_rulesets.cache_clear()


# -- impact ------------------------------------------------------------------------------


def test_impact_from_the_log_names_the_changed_decisions(monkeypatch: pytest.MonkeyPatch, log_url: str,
                                                         rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client = make_client(monkeypatch, log_url)
    slow = client.post("/v1/classify", json=contact("2026-02-26", received="2026-02-01")).json()  # 25 days
    fast = client.post("/v1/classify", json=contact("2026-02-26", received="2026-02-16")).json()  # 10 days
    tl = client.post("/v1/classify/timeline", json=TIMELINE).json()  # 24 days, then an investigation
    log_of(client).close()
    text = (rules_copy / "ruleset.yaml").read_text().replace("limit_days: 30", "limit_days: 20")
    (rules_copy / "ruleset.yaml").write_text(text.replace('version: "2026.3"', 'version: "2026.3-rc"'))
    assert main(["impact", "--candidate", str(rules_copy), "--from-log", log_url, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["baseline"] == "as logged" and result["candidate"] == "2026.3-rc"
    assert result["cases"] == 3 and result["contacts"] == 4
    changed = {(c["ref"], c["position"]) for c in result["changes"]}
    assert (slow["decision_id"], 0) in changed and (tl["decision_id"], 0) in changed
    assert (fast["decision_id"], 0) not in changed
    assert all(c["before"]["in_numerator"] and not c["after"]["in_numerator"] for c in result["changes"])
    assert result["contact_types"]["first_visit"]["first_visit"] == 3
    share = {(f["level"], f["area"], f["month"]): f for f in result["report"]["figures"]}
    fv = share[("region", "first_visit", "2026-02")]
    assert fv["share_before"] == 100.0 and fv["share_after"] == pytest.approx(33.3)


def test_impact_on_the_examples_writes_a_page(rules_copy: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["impact", "--candidate", str(rules_copy), "--examples", "--html", str(tmp_path / "i.html")]) == 0
    out = capsys.readouterr().out
    assert "0 changed" in out and "first_visit" in out
    assert "Konsekvensanalys" in (tmp_path / "i.html").read_text()
    assert main(["impact", "--candidate", str(rules_copy), "--examples", "--baseline", "1999"]) == 2
    assert main(["impact", "--candidate", str(rules_copy), "--extract", str(tmp_path / "x.csv")]) == 2
    assert "x.csv: no such file" in capsys.readouterr().err


def test_serve_refuses_a_log_it_cannot_open() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", "1", "--decision-log", "mysql://somewhere/db"])
    assert "expected a decision-log URL sqlite:///PATH or postgresql://" in str(exc.value)
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", "1", "--decision-log", "postgresql://nobody@127.0.0.1:1/none"])
    assert "cannot open the decision log (OperationalError)" in str(exc.value)


def _entry(decision_id: str, request: str | None, contacts: int) -> dict[str, Any]:
    return {"decision": {"decision_id": decision_id, "recorded_at": "2026-03-01T10:00:00.123456+00:00",
                         "caller": "c", "kind": "batch", "stored": "digest" if request is None else "request",
                         "request_sha256": "1" * 64, "request": request, "answer": '{"results":[]}'},
            "contacts": [{"decision_id": decision_id, "position": i, "contact_date": None if i else "2026-02-26",
                          "contact_type": "acute", "rule": "A1", "ruleset_name": "n", "ruleset_version": "v",
                          "ruleset_status": "released", "ruleset_sha256": "0" * 64} for i in range(contacts)]}


def test_appender_batches_are_idempotent_and_exact(log_url: str) -> None:
    """The writer's batch insert (on PostgreSQL one statement of column arrays): a batch of digests only
    (no request at all), decisions without contacts, a decision twice in one batch and again in the next:
    each stored once, exactly as given."""
    engine = store.engine_for(log_url)
    store.migrate(engine)
    appender = store.Appender(engine)
    a, b, c = new_id(), new_id(), new_id()
    appender.write([_entry(a, None, 0), _entry(b, None, 0)])  # no request, no contact in the whole batch
    appender.write([_entry(c, '{"x": "ä\\"\\n"}', 3), _entry(c, '{"x": "ä\\"\\n"}', 3), _entry(a, None, 0)])
    appender.write([_entry(c, '{"x": "ä\\"\\n"}', 3)])
    appender.close()
    with engine.connect() as conn:
        assert sorted(store.ids(conn)) == sorted([a, b, c])
        got = store.get(conn, c)
        assert store.get(conn, a)["request"] is None and store.get(conn, a)["contacts"] == []
    engine.dispose()
    assert got is not None and got["request"] == {"x": 'ä"\n'} and got["recorded_at"] == "2026-03-01T10:00:00.123456Z"
    assert [(x["position"], x["contact_date"]) for x in got["contacts"]] == [(0, "2026-02-26"), (1, None), (2, None)]


def _writer_log(path: Path) -> tuple[sa.Engine, store.Appender]:
    """A migrated SQLite log at `path`, opened as the writer process opens it."""
    url = f"sqlite:///{path}"
    plain = store.engine_for(url)
    store.migrate(plain)
    plain.dispose()
    engine = store.engine_for(url, own_checkpoints=True)
    return engine, store.Appender(engine)


def test_the_writer_checkpoints_sqlite_beside_its_commits_not_in_them(tmp_path: Path) -> None:
    """The writer's commits leave the WAL to its WalCheckpointer thread (a checkpoint inside a commit made
    every answer waiting for it wait 5-10 ms), which moves the pages into the database file; a commit
    after a complete checkpoint starts the WAL over."""
    engine, appender = _writer_log(tmp_path / "log.db")
    db, wal = tmp_path / "log.db", tmp_path / "log.db-wal"
    before = db.stat().st_size
    for _ in range(30):  # ~2,500 pages of WAL: SQLite's default would have checkpointed twice by now
        appender.write([_entry(new_id(), json.dumps({"x": "y" * 300}), 3) for _ in range(100)])
    assert db.stat().st_size == before and wal.stat().st_size > 1000 * 4096
    checkpointer = store.WalCheckpointer(engine).start()
    try:
        deadline = time.monotonic() + 30
        while db.stat().st_size == before and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        checkpointer.stop()
    assert db.stat().st_size > before  # the thread did it: no commit ran meanwhile
    conn = checkpointer.connect()
    try:
        raw = conn.driver_connection
        while (result := checkpointer.step(raw))[1] != result[2]:
            pass
        appender.write([_entry(new_id(), None, 1)])
        assert checkpointer.step(raw)[1] < 10  # the WAL started over: only the last commit's pages
    finally:
        conn.invalidate()
        appender.close()
    with engine.connect() as c:
        assert len(store.ids(c)) == 3001
        assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == store.WAL_BACKSTOP_FRAMES
    engine.dispose()


def test_a_reader_in_the_way_holds_a_restart_back_briefly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader on an older snapshot keeps the WAL from starting over. The checkpointer's RESTART waits for
    it at most WAL_RESTART_WAIT_MS (holding commits back meanwhile), not the 30 s busy timeout of the
    log's connections, and is not tried again at once; once the reader is gone it succeeds."""
    monkeypatch.setattr(store, "WAL_RESTART_FRAMES", 10)
    engine, appender = _writer_log(tmp_path / "log.db")
    appender.write([_entry(new_id(), json.dumps({"x": "y" * 300}), 3) for _ in range(50)])
    reader = sqlite3.connect(tmp_path / "log.db", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM decisions").fetchone()  # holds this snapshot
    appender.write([_entry(new_id(), json.dumps({"x": "y" * 300}), 3) for _ in range(50)])
    checkpointer = store.WalCheckpointer(engine)
    conn = checkpointer.connect()
    try:
        raw = conn.driver_connection
        start = time.monotonic()
        busy, frames, _ = checkpointer.step(raw)
        assert busy == 1 and frames >= 10 and time.monotonic() - start < 2
        start = time.monotonic()
        assert checkpointer.step(raw)[0] == 0  # PASSIVE only: the RESTART waits for its next turn
        assert time.monotonic() - start < 0.5
        reader.execute("COMMIT")
        time.sleep(1.1)  # the first retry comes after 1 s
        busy, frames, done = checkpointer.step(raw)
        assert busy == 0 and frames == done
    finally:
        reader.close()
        conn.invalidate()
        appender.close()
        engine.dispose()
