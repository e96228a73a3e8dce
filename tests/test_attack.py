"""An outside attack on the service and the CLI: what an attacker or a careless client sends, by hand.

Every test asserts the status (or the exit code) and that nothing identity-shaped comes back or reaches
a log line. The defects found (each fixed; the test failed before the fix):

1. `?limit=` with 5,000 digits or `²` answered 500 (int() of Unicode digits, of huge numbers);
   `١٠` was read as 10.
2. The national endpoints and `bup-classifier national` crashed on days like 9999-12-31 (date
   arithmetic overflow) and read `20121212` and even `1212121212` (an identity number) as dates;
   `/v1/decisions?to=9999-12-31` crashed the same way; the assessment took any year (99999999, -1).
3. POST /v1/national/notices did not refuse identity numbers in its body.
4. A URL path with an identity number after a segment ending in a digit (`/v1/1912-12-12-1212`,
   `/v1/1912/12/12-1212`) was neither refused nor redacted in the access log.
5. The detector let through spellings with invisible characters (variation selectors, combining
   marks, the combining grapheme joiner, Hangul fillers), control characters, backslashes and
   dot-like punctuation (`。`, `·`) between the digits.
6. The month extract's pre-check (`_SIEVE`) let the same spellings through unchecked.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from api.server import JsonFormatter
from classifier.cli import main
from classifier.decisions.store import moment
from classifier.month import run
from classifier.month.extract import _SIEVE
from classifier.privacy import REDACTED, looks_like_identity_number, redact
from tests.client import client
from tests.identity_table import digits, spellings
from tests.test_decisions import log_of, make_client
from tests.test_privacy import GOOD, leaks, refusal_problems, send

SERIAL = "1234"
# Spellings of 2012-03-12-1234 that got through the detector before (defect 5), one per trick.
NEW_SPELLINGS = {
    "word joiner U+2060": "2012\u206003\u206012\u20601234",
    "BOM U+FEFF inside": "20120312\ufeff1234",
    "Mongolian vowel separator U+180E": "2012\u180e0312\u180e1234",
    "variation selector U+FE0F": "2012\ufe0f0312\ufe0f1234",
    "variation selector U+E0100": "2012\U000e01000312-1234",
    "combining acute accents": "2\u03010\u030112\u03010312-1234",
    "combining grapheme joiner U+034F": "2012\u034f0312\u034f1234",
    "Hangul filler U+3164": "2012\u31640312-1234",
    "halfwidth Hangul filler U+FFA0": "2012\uffa00312-1234",
    "soft hyphens U+00AD": "2012\u00ad03\u00ad12\u00ad1234",
    "control character U+0001": "2012\x0103\x0112\x011234",
    "control character U+007F": "2012\x7f03\x7f12\x7f1234",
    "backslashes": "2012\\03\\12\\1234",
    "one dot leader U+2024": "2012\u202403\u202412\u20241234",
    "fullwidth full stop U+FF0E": "2012\uff0e03\uff0e12\uff0e1234",
    "ideographic full stop U+3002": "2012\u300203\u300212\u30021234",
    "middle dot U+00B7": "2012\u00b703\u00b712\u00b71234",
    "katakana middle dot U+30FB": "12\u30fb03\u30fb12\u30fb1234",
    "bullet operator U+2219": "2012\u221903\u221912\u22191234",
    "division slash U+2215": "2012\u221503\u221512\u22151234",
    "in text, with a word joiner": "pnr 2012\u20600312-1234 kom",
}
# What must still pass: plain dates, short codes, ordinary text with the characters above.
STILL_CLEAN = ["2026-03-12", "1234", "2026-03-12\u00b7kl 12:34", "Mottagning 3 \u00b7 rum 12", "e\u0301n 2026",
               "a\\b\\c", "2026\u300203\u300212", "v1/2026-03-12", "12/31/2026", "2026-03-12/2026-04-01"]


def _national(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("BUP_NATIONAL_STORE", str(tmp_path / "national.duckdb"))
    return client


def _nothing_echoed(text: str, *values: str) -> None:
    for value in values:
        if looks_like_identity_number(value):
            assert not leaks(text, value), (value, text[:300])
    assert not looks_like_identity_number(text), text[:300]


# ---- 1. ?limit= -----------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["9" * 5000, "²", "¹⁰", "١٠", "１０", "0", "1001", "-1", "1e3", " 10", "10.0"])
def test_a_limit_that_is_not_1_to_1000_in_ascii_digits_is_a_422_naming_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, limit: str) -> None:
    http = make_client(monkeypatch, f"sqlite:///{tmp_path / 'd.db'}")
    try:
        r = http.get("/v1/decisions", params={"limit": limit})
        assert r.status_code == 422, r.text
        (e,) = r.json()["errors"]
        assert e["path"] == "limit" and "1 till 1000" in e["message_sv"]
        assert e["message"] == "expected a whole number from 1 to 1000 in ASCII digits"  # the value not echoed
        for ok in ("1", "0010", "1000"):
            assert http.get("/v1/decisions", params={"limit": ok}).status_code == 200
    finally:
        log_of(http).close()


# ---- 2. days and years --------------------------------------------------------------------

BAD_DAYS = ["9999-12-31", "0001-01-01", "1999-12-31", "2200-01-01", "20261212", "2026-W10-1", "2026-02-30",
            "2026-3-1", "２０２６-03-01", "2026-03-01T00:00"]


@pytest.mark.parametrize("day", BAD_DAYS)
def test_a_national_day_outside_2000_2199_or_not_iso_is_a_422_in_english_and_swedish(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, day: str) -> None:
    api = _national(monkeypatch, tmp_path)
    answers = [("as_of", api.get("/v1/national/status", params={"year": 2026, "as_of": day})),
               ("as_of", api.get("/v1/national/notices", params={"year": 2026, "as_of": day})),
               ("as_of", api.get("/v1/national/statistics", params={"year": 2026, "as_of": day})),
               ("as_of", api.post("/v1/national/notices", json={"year": 2026, "as_of": day})),
               ("cutoff", api.post("/v1/national/assessment", json={"year": 2026, "cutoff": day, "shares": {}}))]
    for name, r in answers:
        assert r.status_code == 422, (name, r.text)
        (e,) = r.json()["errors"]
        assert e["path"] == name and "2000–2199" in e["message"] and "under åren 2000–2199" in e["message_sv"]
        assert day not in r.text


def test_the_first_and_last_days_of_the_range_are_answered(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    api = _national(monkeypatch, tmp_path)
    for day in ("2000-01-01", "2199-12-31"):
        assert api.get("/v1/national/status", params={"year": 2026, "as_of": day}).status_code == 200
        assert api.get("/v1/national/statistics", params={"year": 2026, "as_of": day}).status_code == 200
        assert api.post("/v1/national/notices", json={"year": 2026, "as_of": day}).status_code == 200


@pytest.mark.parametrize("year", [99999999, -1, 0, 2024, 2101, True, 2026.5, "2026", None])
def test_the_assessment_takes_only_an_agreement_year(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     year: Any) -> None:
    """It answered 200 for the years 99999999 and -1 (a silent nonsense answer)."""
    api = _national(monkeypatch, tmp_path)
    r = api.post("/v1/national/assessment", json={"year": year, "cutoff": "2026-06-30", "shares": {}})
    assert r.status_code == 422, r.text
    assert [e["path"] for e in r.json()["errors"]] == ["year"]
    assert "2025 till 2100" in r.json()["errors"][0]["message_sv"]


@pytest.mark.parametrize("args", [["status", "--year", "2026", "--as-of", "9999-12-31"],
                                  ["status", "--year", "2026", "--as-of", "1212121212"],
                                  ["statistics", "--year", "2026", "--as-of", "0001-01-01"],
                                  ["notices", "--as-of", "20121212"],
                                  ["status", "--year", "99999"], ["status", "--year", "²"],
                                  ["assess", "--year", "2026", "--cutoff", "9999-12-31", "--shares", "x.csv"]])
def test_the_cli_refuses_the_same_days_and_years_without_a_traceback(tmp_path: Path, args: list[str],
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["national", args[0], "--store", str(tmp_path / "s.duckdb"), *args[1:]])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("2000–2199" in err or "2025 to 2100" in err), err
    _nothing_echoed(err, "1212121212")


@pytest.mark.parametrize("query", ["to=9999-12-31", "from=0001-01-01T00:00:00%2B14:00",
                                   "from=9999-12-31T23:59:59-14:00", "to=0001-01-01", "from=9999-12-31"])
def test_decision_log_bounds_at_the_calendar_ends_are_answered(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               query: str) -> None:
    """`to=9999-12-31` is the day after it, 0001-01-01T00:00+14:00 is before year 1 in UTC: a 500 before."""
    http = make_client(monkeypatch, f"sqlite:///{tmp_path / 'd.db'}")
    try:
        assert http.post("/v1/classify", json=GOOD).status_code == 200
        r = http.get(f"/v1/decisions?{query}")
        assert r.status_code == 200, r.text
        expected = 1 if query.startswith("to=9") or query.startswith("from=0") else 0
        assert len(r.json()["decisions"]) == expected
    finally:
        log_of(http).close()


def test_a_decision_log_bound_is_never_an_identity_number_read_as_a_date() -> None:
    """Python reads `1212121212` as 1212-12-12; behind the guard (and in `decisions export`) it is refused."""
    with pytest.raises(ValueError):
        moment("1212121212", False)
    assert moment("2026-03-12", True) == dt.datetime(2026, 3, 13)


# ---- 3. identity numbers in every national body -----------------------------------------------


@pytest.mark.parametrize("where", ["as_of", "key", "nested"])
def test_the_national_notices_body_refuses_identity_numbers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                             where: str) -> None:
    api = _national(monkeypatch, tmp_path)
    pnr = {"as_of": "1212121212", "key": "20120312-1234", "nested": "2012\u00b703\u00b712\u00b71234"}[where]
    body: dict[str, Any] = {"year": 2026, "as_of": "2026-06-30"}
    path = {"as_of": "as_of", "key": REDACTED, "nested": "x[0].y"}[where]
    if where == "as_of":
        body["as_of"] = pnr
    elif where == "key":
        body[pnr] = 1
    else:
        body["x"] = [{"y": pnr}]
    r = api.post("/v1/national/notices", json=body)
    assert r.status_code == 422, r.text
    assert [(e["path"], e["type"]) for e in r.json()["errors"]] == [(path, "identity_number")]
    assert r.json()["errors"][0]["message_sv"].startswith("ser ut som ett personnummer")
    _nothing_echoed(r.text, pnr)
    assert api.get("/v1/national/notices").json() == []  # nothing was recorded


@pytest.mark.parametrize("url,body", [
    ("/v1/national/deliveries", {"filename": "completed.csv", "content": "x", "201203121234": 1}),
    ("/v1/national/deliveries", {"filename": "2012\u206003\u206012\u20601234.csv", "content": "x"}),
    ("/v1/national/assessment", {"year": 2026, "cutoff": "2026-06-30", "shares": {"20120312-1234": 0.1}}),
    ("/v1/national/assessment", {"year": 2026, "cutoff": "2026-06-30", "shares": {}, "final": "2012\\03\\12\\1234"}),
])
def test_every_national_body_refuses_identity_numbers_in_keys_and_values(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, body: dict[str, Any]) -> None:
    api = _national(monkeypatch, tmp_path)
    r = api.post(url, json=body)
    assert r.status_code == 422, r.text
    assert [e["type"] for e in r.json()["errors"]] == ["identity_number"]
    assert r.json()["errors"][0]["message_sv"].startswith("ser ut som ett personnummer")
    _nothing_echoed(r.text, *[v for k, v in json.loads(json.dumps(body)).items() if isinstance(v, str)],
                    *body.get("shares", {}))


# ---- 4. identity numbers over the URL path ---------------------------------------------------

SPLIT_PATHS = ["/v1/1912-12-12-1212", "/v1/1912/12/12-1212", "/v1/1912/12/12/1212", "/v1/19/12/12/12/12",
               "/v1/classify/1912/12/12/1212", "/v1/decisions/2012/03/12/1234", "/v2/20120312/1234",
               "/workbench/1/12/03/12/1234", "/v1/national/deliveries/1/2012-03-12-1234"]


@pytest.mark.parametrize("path", SPLIT_PATHS)
def test_an_identity_number_over_path_segments_is_refused_and_never_logged(
        path: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        r = client.get(path)
    assert r.status_code == 422, r.text
    assert [(e["path"], e["type"]) for e in r.json()["errors"]] == [("path", "identity_number")]
    tail = path.split("/v1/")[-1]
    _nothing_echoed(r.text + "\n".join(f"{k}: {v}" for k, v in r.headers.items()), tail)
    lines = [JsonFormatter().format(rec) for rec in caplog.records]
    assert lines and not [line for line in lines if looks_like_identity_number(line) or digits(tail) in line]
    assert any(REDACTED in line for line in lines)


@pytest.mark.parametrize("path", SPLIT_PATHS)
def test_redact_removes_an_identity_number_split_over_segments(path: str) -> None:
    """The access log's redaction and any other log line's (the JSON formatter redacts every message)."""
    out = redact(path)
    assert REDACTED in out and not looks_like_identity_number(out)
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "GET %s HTTP/1.1" 404', ("1.2.3.4", path),
                               None)
    assert not looks_like_identity_number(JsonFormatter().format(record))


@pytest.mark.parametrize("path", ["/v1/decisions/2026/03/12", "/v1/2026-03-12", "/v1/classify/12",
                                  "/v1/12/03/2026", "/docs/2026-03-12/x", "/v1/decisions/4b199e35-0913-4747-899f-c571"
                                  "c1c03a55"])
def test_paths_with_dates_and_ids_are_not_refused(path: str) -> None:
    r = client.get(path)
    assert r.status_code in (404, 200), r.text
    assert redact(path) == path


# ---- 5. the detector's normalisation -------------------------------------------------------------


@pytest.mark.parametrize("name", list(NEW_SPELLINGS))
def test_the_detector_reads_spellings_with_invisible_characters_controls_and_dots(name: str) -> None:
    pnr = NEW_SPELLINGS[name]
    assert looks_like_identity_number(pnr)
    out = redact(f"/x/{pnr}/y")
    assert REDACTED in out and not looks_like_identity_number(out) and not leaks(out, pnr)


@pytest.mark.parametrize("value", STILL_CLEAN)
def test_ordinary_text_with_those_characters_still_passes(value: str) -> None:
    assert not looks_like_identity_number(value)
    r = client.post("/v1/classify", json={**GOOD, "patient": {"ref": value}})
    assert r.status_code == 200, r.text


def _sendable_in_a_header(pnr: str) -> bool:
    return all(c == "\t" or (" " <= c != "\x7f") for c in pnr)


@pytest.mark.parametrize("family", ["classify", "batch", "timeline", "months", "decisions", "workbench"])
def test_the_new_spellings_are_refused_everywhere_and_never_echoed(family: str) -> None:
    failures = []
    for name, pnr in NEW_SPELLINGS.items():
        for place in ("value", "key", "path", "query", "x-request-id", "header"):
            if place in ("x-request-id", "header") and not _sendable_in_a_header(pnr):
                continue
            r, expected = send(client, family, place, pnr)
            failures += [f"{name} at {place}: {p}" for p in refusal_problems(r, expected, pnr)]
    assert not failures, "\n".join(failures[:20])


# ---- 6. the month extract's pre-check ------------------------------------------------------------


def test_the_sieve_lets_nothing_through_that_the_detector_refuses() -> None:
    """The sieve may over-match (the detector decides); it must never miss."""
    values = [s["value"] for s in spellings()] + list(NEW_SPELLINGS.values())
    values += [f"{v}{sep}x" for v in ("unit", "2012") for sep in ("\u2060", "\ufe0f", "\u3164", "\x01", "\\")]
    matched = pc.match_substring_regex(pa.array(values, pa.string()), _SIEVE).to_pylist()
    missed = [v for v, m in zip(values, matched, strict=True) if looks_like_identity_number(v) and not m]
    assert not missed, [ascii(v) for v in missed]
    new = pc.match_substring_regex(pa.array(list(NEW_SPELLINGS.values()), pa.string()), _SIEVE).to_pylist()
    assert all(new), [ascii(v) for v, m in zip(NEW_SPELLINGS.values(), new, strict=True) if not m]
    plain = pc.match_substring_regex(pa.array(["Mottagning Öst", "2026-03-12", "F90", "DU011"]), _SIEVE)
    assert not any(plain.to_pylist())


HEADER = "patient_ref,event_id,event_type,date,region,unit,pathway"


@pytest.mark.parametrize("name", ["variation selector U+FE0F", "control character U+0001", "backslashes",
                                  "middle dot U+00B7", "Hangul filler U+3164", "combining acute accents"])
def test_a_month_extract_cell_with_a_new_spelling_is_rejected_and_never_copied(tmp_path: Path, name: str) -> None:
    pnr = NEW_SPELLINGS[name]
    extract = tmp_path / "x.csv"
    extract.write_text(f"{HEADER}\np1,e1,care_request,2026-03-01,R,U,A\np2,e2,care_request,2026-03-02,R,"
                       f"\"{pnr}\",A\n", encoding="utf-8")
    run([extract], ["2026-03"], tmp_path / "out", workers=1)
    rejected = (tmp_path / "out" / "rejected.csv").read_text(encoding="utf-8")
    assert ",unit," in rejected and "identity" in rejected
    for f in (tmp_path / "out").rglob("*"):
        if f.is_file():
            text = f.read_bytes().decode("utf-8", "replace")
            assert pnr not in text and digits(pnr) not in text, f


# ---- odd JSON, headers, query strings on every endpoint -------------------------------------------

POSTS = ["/v1/classify", "/v1/classify/batch", "/v1/classify/timeline", "/v1/reports/monthly", "/v1/months",
         "/v1/impact", "/v1/national/deliveries", "/v1/national/notices", "/v1/national/assessment",
         "/workbench/example", "/workbench/example/read"]
ODD_BODIES = {
    "a huge number": b'{"year": 1e400}', "a long integer": b'{"a": ' + b"9" * 5000 + b"}",
    "deep nesting": b"[" * 200 + b"]" * 200, "NaN": b'{"a": NaN}', "Infinity": b'{"a": -Infinity}',
    "a lone surrogate": b'{"a": "\\ud800"}', "a lone surrogate key": b'{"\\udc00": 1}',
    "a duplicate key": b'{"year": 2026, "year": 2027}', "not an object": b"[1, 2]", "a string": b'"x"',
    "a duplicate identity-number key": b'{"20120312-1234": 1, "20120312-1234": 2}',
    "an identity number as a float": b'{"a": 20120312.1234}',
    "an escaped identity number": b'{"a": "\\u0032012\\u20600312-1234"}',
}


@pytest.mark.parametrize("url", POSTS)
def test_odd_json_is_a_4xx_naming_the_place_and_echoes_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               url: str, caplog: pytest.LogCaptureFixture) -> None:
    api = _national(monkeypatch, tmp_path)
    with caplog.at_level(logging.INFO):
        for name, body in ODD_BODIES.items():
            r = api.post(url, content=body, headers={"content-type": "application/json"})
            assert 400 <= r.status_code < 500, (name, r.status_code, r.text[:300])
            assert r.json()["errors"], name
            _nothing_echoed(r.text, "20120312-1234", "20120312.1234")
    assert not [rec for rec in caplog.records if looks_like_identity_number(JsonFormatter().format(rec))]


@pytest.mark.parametrize("rid", ["2012\u00b703\u00b712\u00b71234", "2012\\03\\12\\1234", "x" * 65, "a b", "ÅÄÖ"])
def test_an_odd_request_id_is_replaced_and_never_echoed(rid: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        r = client.get("/health", headers={"x-request-id": rid.encode()})
    identity = looks_like_identity_number(rid)
    assert r.status_code == (422 if identity else 200), r.text
    assert r.headers["x-request-id"] != rid and len(r.headers["x-request-id"]) == 16
    if identity:
        assert r.json()["errors"][0]["path"] == "header 'x-request-id'"
        _nothing_echoed(r.text + str(dict(r.headers)), rid)
    assert not [rec for rec in caplog.records if rid in JsonFormatter().format(rec)]


@pytest.mark.parametrize("url", ["/v1/national/deliveries/" + "9" * 30, "/v1/national/deliveries/-1",
                                 "/v1/national/deliveries/²", "/v1/national/status?year=" + "9" * 5000,
                                 "/v1/national/status?year=²", "/v1/national/statistics?year=2026&format=pdf",
                                 "/v1/national/deliveries?month=9999-99", "/v1/decisions?cursor=%00",
                                 "/v1/decisions?from=%00", "/docs/..%2f..%2fREADME.md", "/v1/decisions/%00"])
def test_odd_query_strings_and_path_parameters_are_a_4xx(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                               url: str) -> None:
    """`month=9999-99` listed nothing with a 200 before: a filter that can match nothing is a 422 now."""
    http = make_client(monkeypatch, f"sqlite:///{tmp_path / 'd.db'}", BUP_NATIONAL_STORE=str(tmp_path / "n.duckdb"))
    try:
        r = http.get(url)
        assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
        _nothing_echoed(r.text)
    finally:
        log_of(http).close()


# ---- found on the way: headers, months, report months -------------------------------------------


def test_a_content_length_of_thousands_of_digits_is_a_413_not_a_500() -> None:
    """int() refuses more than 4,300 digits: the size guard answered 500 before reading a byte."""
    for declared in (b"9" * 5000, b"0" * 5000 + b"1" + b"0" * 20):
        r = client.post("/v1/classify", content=json.dumps(GOOD).encode(),
                        headers={"content-type": "application/json", "content-length": declared})
        assert r.status_code == 413, r.text
        assert r.json()["errors"][0]["type"] == "body_too_large"


@pytest.mark.parametrize("field,month", [("month", "9999-12"), ("month", "0001-01"), ("to", "9999-12"),
                                         ("month", "２０２６-03"), ("to", "1899-12")])
def test_a_month_of_the_month_endpoint_outside_1900_2100_is_a_422_naming_it(field: str, month: str) -> None:
    """0001-01 was audited (200), 9999-12 answered Python's 'year 10000 is out of range' at `to`."""
    body = {"month": "2026-03", "rows": [], field: month}
    r = client.post("/v1/months", json=body)
    assert r.status_code == 422, r.text
    (e,) = r.json()["errors"]
    assert e["path"] == field and "1900–2100" in e["message"] and "under åren 1900–2100" in e["message_sv"]
    assert "out of range" not in r.text


def test_the_cli_month_refuses_such_a_month_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    extract = tmp_path / "x.csv"
    extract.write_text(f"{HEADER}\np1,e1,care_request,2026-03-01,R,U,A\n", encoding="utf-8")
    assert main(["month", "--extract", str(extract), "--month", "2026-01", "--to", "9999-12",
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "--to: expected a month as 'YYYY-MM' in the years 1900–2100" in err and "Traceback" not in err


@pytest.mark.parametrize("month,day", [("9999-12", None), ("0001-01", None), (None, "9999-12-31")])
def test_a_report_record_outside_1900_2100_is_a_422_naming_its_field(month: str | None, day: str | None) -> None:
    """9999-12 answered 'year 10000 is out of range' at the record, not at its month."""
    from api.docs import REPORT_EXAMPLE

    body = json.loads(json.dumps(REPORT_EXAMPLE))
    record = body["waiting"][0]
    if month:
        record["month"] = month
    else:
        record["wait_start"] = day
    r = client.post("/v1/reports/monthly", json=body)
    assert r.status_code == 422, r.text
    (e,) = r.json()["errors"]
    assert e["path"] == ("waiting[0].month" if month else "waiting[0].wait_start"), e
    assert "1900–2100" in e["message"] and "1900–2100" in e["message_sv"] and "out of range" not in r.text


# ---- the CLI: what the service refuses, it refuses too ------------------------------------------

CONTACT = '{"contact": {"id": "c", "date": "2026-03-10", "setting": "bup", "activity": "treatment", ' \
          '"health_problem": "F90"%s}}'


@pytest.mark.parametrize("text,expected", [
    (CONTACT % ', "id": "x"', "duplicate key 'id'"),  # the last one was kept, silently
    (CONTACT % ', "20120312-1234": 1, "20120312-1234": 2', "duplicate key '<redacted>'"),
    ('{"a": 1}\n' + CONTACT % ', "id": "x"' + "\n", "line 2: duplicate key 'id'"),
    ('"\\ud800"', "lone surrogate"),  # a traceback: the answer could not be written
    (CONTACT % ', "x": "\\udc00"', "lone surrogate"),
])
def test_cli_classify_refuses_duplicate_keys_and_lone_surrogates(tmp_path: Path, text: str, expected: str,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.json"
    source.write_text(text, encoding="utf-8")
    assert main(["classify", str(source)]) == 2
    captured = capsys.readouterr()
    assert expected in captured.err and "Traceback" not in captured.err and captured.out == ""
    _nothing_echoed(captured.err, "20120312-1234")


def test_cli_classify_still_reads_one_object_an_array_and_json_lines(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    one = CONTACT % ""
    for text in (one, f"[{one}, {one}]", f"{one}\n{one}\n"):
        (tmp_path / "in.json").write_text(text, encoding="utf-8")
        assert main(["classify", str(tmp_path / "in.json")]) == 0
        assert '"contact_type"' in capsys.readouterr().out


@pytest.mark.parametrize("args,expected", [
    (["export", "--to", "9999-12-31"], "cannot read the decision log (no such table: decisions)"),
    (["export", "--from", "1212121212"], "expected a date YYYY-MM-DD"),
    (["purge", "--older-than-days", "99999999999"], "from 1 to 36500"),
    (["purge", "--older-than-days", "30"], "cannot read the decision log (no such table: decisions)"),
])
def test_cli_decisions_answers_a_bad_bound_or_an_empty_database_without_a_traceback(
        tmp_path: Path, args: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    """An OverflowError and SQLAlchemy's OperationalError (with its SQL) escaped as tracebacks."""
    assert main(["decisions", *args, "--log", f"sqlite:///{tmp_path / 'empty.db'}"]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and "SELECT" not in err
    _nothing_echoed(err, "1212121212")


def test_serve_refuses_a_retention_that_overflows_the_purge(capsys: pytest.CaptureFixture[str]) -> None:
    """Only the arguments are read (a server is never started here)."""
    from classifier.cli import build_parser

    for days in ("99999999999", "9" * 5000, "-1", "²"):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["serve", "--decision-log", "sqlite:///x.db", "--decision-log-retention-days",
                                       days])
        assert exc.value.code == 2 and "from 0 to 36500" in capsys.readouterr().err
    args = build_parser().parse_args(["serve", "--decision-log-retention-days", "0"])
    assert args.decision_log_retention_days == 0


@pytest.mark.parametrize("name", ["variation selector U+FE0F", "control character U+0001", "backslashes",
                                  "Hangul filler U+3164"])
def test_an_uploaded_extract_file_with_a_new_spelling_rejects_the_row_and_echoes_nothing(name: str) -> None:
    """Inside file_base64 the door cannot read the cells: the month's own check (sieve, then detector) must."""
    import base64

    pnr = NEW_SPELLINGS[name]
    text = f"{HEADER}\np1,e1,care_request,2026-03-01,R,U,A\np2,e2,care_request,2026-03-02,R,\"{pnr}\",A\n"
    r = client.post("/v1/months", json={"month": "2026-03", "file_base64": base64.b64encode(text.encode()).decode(),
                                        "file_name": "x.csv"})
    assert r.status_code == 200, r.text
    assert r.json()["totals"]["rejected_rows"] == 1
    _nothing_echoed(r.text, pnr)


@pytest.mark.parametrize("name", ["variation selector U+FE0F", "backslashes", "ideographic full stop U+3002"])
def test_a_national_delivery_cell_with_a_new_spelling_is_refused_and_not_stored(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str) -> None:
    api = _national(monkeypatch, tmp_path)
    pnr = NEW_SPELLINGS[name]
    content = ("Region,Rapportmanad,Enhet,VardkontaktId,Fas,Avvikelse,AnkomstDatum,BeslutAktivitet,StartAktivitet,"
               f"Vantetid\nRegion Gotland,2026-03,BUP Visby,\"{pnr}\",1,,2026-02-10,,2026-03-05,23\n")
    r = api.post("/v1/national/deliveries", json={"filename": "completed.csv", "content": content})
    assert r.status_code == 422, r.text
    assert any(e["path"] == "completed.csv:2.VardkontaktId" and "personnummer" in e["message_sv"]
               for e in r.json()["errors"]), r.text
    _nothing_echoed(r.text, pnr)
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("national.duckdb*"))
    assert pnr.encode() not in stored and digits(pnr).encode() not in stored
