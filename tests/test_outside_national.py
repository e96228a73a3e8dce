"""The national follow-up (docs/national.md) on deliveries and shares written by hand, as regions write them.

tests/data/outside/national/ holds Region Halland's March 2026 delivery, typed by hand from
docs/national.md §1 and docs/month.md §4 (never written by `bup-classifier month` or the simulator):
the same four completed records as comma CSV (UTF-8), as Excel's "CSV UTF-8" (byte-order mark,
semicolons, CRLF, the columns in another order and the rows shuffled), as a JSON array and, as
the one a region saved from Excel's plain "CSV", in Windows-1252; the two waiting records as CSV
and as JSON lines (every value a string). The shares are 21 made-up figures (not official):
Stockholm 0.20 and 0.04 for each of the other 20 (sum exactly 1), with a decimal point and as
Swedish Excel saves them (`;`, `0,04`).

The counts by hand (docs/money.md; the same month as tests/test_outside_month.py's extract):
- first visit, completed: k-å2 23 days (within 30), k-b2 41 days with Avvikelse 1 (PVV):
  completed_all 2, numerator 1, denominator 1 (PVV 31+ leaves the denominator);
- investigation: k-å4 21 days -> 1 / 1; treatment: k-e3 16 days from the decision -> 1 / 1;
- waiting at 31 March: c1 first visit since 12 March (19 days: within 30, and new on the list
  in March); d3 treatment since 23 February (36 days: not within 30). Nobody waits for an
  investigation.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from classifier.cli import main
from classifier.month import run
from classifier.national.assess import assess, dumps
from classifier.national.deliveries import read_delivery
from classifier.national.store import Store
from classifier.reporting.records import ReportInputError
from classifier.reporting.report import read_shares

DATA = Path(__file__).parent / "data" / "outside" / "national"
EXTRACT = Path(__file__).parent / "data" / "outside" / "extract_comma.csv"
PART = ("Region Halland", "2026-03")
CUTOFF = dt.date(2026, 4, 30)
HAND = {  # area -> (completed_all, numerator, denominator, waiting, waiting_le30, new_on_list), worked out above
    "first_visit": (2, 1, 1, 1, 1, 1),
    "investigation": (1, 1, 1, 0, 0, 0),
    "treatment": (1, 1, 1, 1, 0, 0),
}
FIELDS = ("completed_all", "numerator", "denominator", "waiting", "waiting_le30", "new_on_list")


def _read(name: str):
    return read_delivery(name, (DATA / name).read_bytes())


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(str(tmp_path / "national.duckdb"))
    yield s
    s.close()


@pytest.mark.parametrize("name", ["halland_2026-03_completed.csv", "halland_2026-03_completed_excel.csv",
                                  "halland_2026-03_completed.json"])
def test_every_written_shape_of_the_completed_file_reads_to_the_same_records(name) -> None:
    d = _read(name)
    assert d.problems == [] and d.kind == "completed" and list(d.parts) == [PART]
    ref = _read("halland_2026-03_completed.csv")
    key = lambda r: r["id"]  # noqa: E731  (the Excel file's rows are in another order)
    assert sorted(d.parts[PART], key=key) == sorted(ref.parts[PART], key=key)
    assert {r["id"]: (r["fas"], r["avvikelse"], r["vantetid"]) for r in d.parts[PART]} == {
        "k-å2": (1, None, 23), "k-å4": (3, None, 21), "k-b2": (1, 1, 41), "k-e3": (2, None, 16)}


def test_the_waiting_file_as_csv_and_as_json_lines_of_strings() -> None:
    a, b = _read("halland_2026-03_waiting.csv"), _read("halland_2026-03_waiting.jsonl")
    assert a.problems == b.problems == [] and a.kind == b.kind == "waiting"
    assert a.parts == b.parts and len(a.parts[PART]) == 2


def _assessed(store: Store, completed: str, waiting: str, shares: dict[str, Decimal]) -> dict:
    for name in (completed, waiting):
        res = store.ingest(_read(name), "test", "2026-04-10T09:00:00+02:00")
        assert res["status"] == "accepted", res
    return assess(store, 2026, CUTOFF, shares)


@pytest.mark.parametrize("completed,waiting", [
    ("halland_2026-03_completed.csv", "halland_2026-03_waiting.csv"),
    ("halland_2026-03_completed_excel.csv", "halland_2026-03_waiting.jsonl"),
    ("halland_2026-03_completed.json", "halland_2026-03_waiting.jsonl"),
])
def test_the_assessment_counts_as_by_hand_whatever_the_format(completed, waiting, store) -> None:
    a = _assessed(store, completed, waiting, read_shares(DATA / "shares_point.csv"))
    got = {f["area"]: tuple(f[k] for k in FIELDS) for f in a["figures"]
           if (f["region"], f["month"]) == PART}
    assert got == HAND
    assert a["shares_sum"] == 1.0 and a["regions_without_share"] == []


def test_the_delivery_counts_as_the_regions_own_month_audit(tmp_path) -> None:
    """docs/national.md §4: a region's figures from its delivery equal those of its own audit.json. Here the
    delivery is typed by hand and the audit is of the hand-written extract of the same month."""
    audit = run([EXTRACT], ["2026-03"], tmp_path / "out", workers=1)
    (region,) = audit["regions"]
    own = {f["area"]: tuple(f["as_rules"][k] for k in FIELDS) for f in region["figures"] if f["month"] == "2026-03"}
    assert own == HAND


def test_the_direct_starts_the_delivery_cannot_carry_are_unknown_not_0(tmp_path, store) -> None:
    """The month counts p-erik's direct start (N4), 1; the delivery's columns (docs/month.md §4) have no field for it,
    so the national figures say null with the reason in both languages, never 0 (was: 0, a silent guess)."""
    audit = run([EXTRACT], ["2026-03"], tmp_path / "out", workers=1)
    (own,) = [f["as_rules"] for f in audit["regions"][0]["figures"]
              if (f["month"], f["area"]) == ("2026-03", "first_visit")]
    assert own["direct_starts"] == 1
    a = _assessed(store, "halland_2026-03_completed.csv", "halland_2026-03_waiting.csv",
                  read_shares(DATA / "shares_point.csv"))
    first = {f["region"]: f for f in a["figures"] if (f["month"], f["area"]) == ("2026-03", "first_visit")}
    assert first["Region Halland"]["direct_starts"] is None and first["Riket"]["direct_starts"] is None
    why = a["unknown"]["direct_starts"]
    assert why["region_months"] == [{"region": "Region Halland", "month": "2026-03"}]
    assert "no column" in why["en"] and "ingen kolumn" in why["sv"]
    (halland,) = [r for r in a["money"]["regions"] if r["region"] == "Region Halland"]
    spring = next(q for q in halland["queue"] if "2026-03" in q["months"])
    assert spring["direct_starts"] is None and spring["direct_starts_unknown_months"] == ["2026-03"]


def test_direct_starts_given_in_last_years_counts_are_counted(store, tmp_path) -> None:
    """A baseline counts row that gives direct_starts is counted as given; one without them is unknown."""
    from classifier.reporting.records import as_source

    rows = [{"region": "Region Halland", "area": "first_visit", "month": "2025-03", "numerator": 1,
             "denominator": 1, "completed_all": 1, "direct_starts": 3},
            {"region": "Region Gotland", "area": "first_visit", "month": "2025-03", "numerator": 1,
             "denominator": 1, "completed_all": 1}]
    a = assess(store, 2026, CUTOFF, read_shares(DATA / "shares_point.csv"), baseline=[as_source("counts", rows)])
    got = {f["region"]: f["direct_starts"] for f in a["figures"] if (f["month"], f["area"]) == ("2025-03",
                                                                                                  "first_visit")}
    assert got == {"Region Halland": 3, "Region Gotland": None, "Riket": None}


# -- shares: Swedish Excel writes 0,04 (defect 6) ---------------------------------------------------------


def test_shares_with_a_decimal_comma_and_semicolons_read_as_the_point_file(store) -> None:
    point, comma = read_shares(DATA / "shares_point.csv"), read_shares(DATA / "shares_excel_sv.csv")
    assert comma == point and comma["Region Halland"] == Decimal("0.04") and sum(comma.values()) == 1
    one = _assessed(store, "halland_2026-03_completed.csv", "halland_2026-03_waiting.csv", point)
    assert dumps(assess(store, 2026, CUTOFF, comma)) == dumps(one)


def test_a_quoted_decimal_comma_in_a_comma_file_and_a_clear_word_for_other_shapes(tmp_path) -> None:
    p = tmp_path / "s.csv"
    p.write_text('region,share\nRegion Halland,"0,04"\n', encoding="utf-8")
    assert read_shares(p) == {"Region Halland": Decimal("0.04")}
    p.write_text("region,share\nRegion Halland,4 %\n", encoding="utf-8")
    with pytest.raises(ReportInputError) as err:
        read_shares(p)
    (item,) = err.value.items()
    assert item["path"] == "s.csv:2: share"
    assert "a decimal number such as 0.04" in item["message"] and "ett decimaltal som 0.04" in item["message_sv"]


def test_shares_over_http_may_be_written_with_a_decimal_comma(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BUP_NATIONAL_STORE", str(tmp_path / "api.duckdb"))
    from tests.client import client

    shares = {r: str(v).replace(".", ",") for r, v in read_shares(DATA / "shares_point.csv").items()}
    r = client.post("/v1/national/assessment", json={"year": 2026, "cutoff": "2026-04-30", "shares": shares})
    assert r.status_code == 200, r.text
    assert r.json()["shares_sum"] == 1.0


# -- Windows-1252 (defect 7) and files that are not there --------------------------------------------------


def test_a_windows1252_delivery_is_refused_naming_the_encoding_and_the_line(tmp_path, capsys) -> None:
    d = _read("halland_2026-03_completed_windows1252.csv")
    (p,) = d.problems
    # line 2 is the first with a non-ASCII byte: 'ö' of "BUP Kungsbacka, öst" is 0xF6 in Windows-1252
    assert "not UTF-8" in p.message and "byte 0xF6 on line 2" in p.message and "'CSV UTF-8'" in p.message
    assert "Windows-1252" in p.message
    assert "rad 2" in p.message_sv and "spara den som 'CSV UTF-8'" in p.message_sv
    code = main(["national", "ingest", "--store", str(tmp_path / "s.duckdb"), "--sender", "t",
                 str(DATA / "halland_2026-03_completed_windows1252.csv")])
    said = capsys.readouterr()
    assert code == 2 and "byte 0xF6 on line 2" in said.out + said.err


@pytest.mark.parametrize("shares", ["shares_windows1252.csv", "no_such_shares.csv"])
def test_assess_with_an_unreadable_shares_file_says_why_without_a_traceback(shares, tmp_path, capsys) -> None:
    """Both were Python tracebacks (UnicodeDecodeError, FileNotFoundError)."""
    code = main(["national", "assess", "--store", str(tmp_path / "s.duckdb"), "--year", "2026",
                 "--cutoff", "2026-04-30", "--shares", str(DATA / shares)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert ("'CSV UTF-8'" in err and "line" not in err.split(":", 2)[1]) if shares.startswith("shares_w") else (
        "cannot be read" in err)
    assert err.startswith(f"bup-classifier: {shares}")


# -- every refusal of the month and national endpoints says itself in Swedish (defect 5) --------------------

FALLBACK = "ogiltigt värde ("  # classifier.errors.swedish_message's word for a message it has no Swedish for

BAD_MONTHS = [
    [],
    {"month": "2026-03", "rows": [], "x": 1},
    {"month": "2026-03", "rows": [], "publish": "ja"},
    {"month": "2026-03"},
    {"month": "2026-03", "csv": 5},
    {"month": "2026-03", "csv": "a", "file_name": "x.csv"},
    {"month": "2026-03", "csv": "a", "encoding": "utf-8"},
    {"month": "2026-03", "file_base64": "", "encoding": "latin-9"},
    {"month": "2026-03", "file_base64": "", "file_name": "x.ods"},
    {"month": "2026-03", "rows": {}},
    {"month": "2026-03", "rows": [1]},
    {"month": "2026-03", "rows": [{"colour": "red"}]},
    {"month": "2026-03", "rows": [{"kva_codes": 5}]},
    {"month": "2026-03", "rows": [{"unit": {"a": 1}}]},
    {"month": "2026-03", "file_base64": "not base64!"},
    {"month": "2026-03", "to": "2026-01", "rows": []},
]


@pytest.mark.parametrize("body", BAD_MONTHS, ids=range(len(BAD_MONTHS)))
def test_every_month_refusal_has_its_swedish_text(body) -> None:
    from tests.client import client

    r = client.post("/v1/months", json=body)
    assert r.status_code == 422, r.text
    for e in r.json()["errors"]:
        assert e["message_sv"] and not e["message_sv"].startswith(FALLBACK), e


@pytest.mark.parametrize("path,body", [
    ("/v1/national/deliveries", []),
    ("/v1/national/deliveries", {"filename": "completed.csv"}),
    ("/v1/national/deliveries", {"content": "x"}),
    ("/v1/national/deliveries", {"filename": 5, "content": "x"}),
    ("/v1/national/deliveries", {"filename": "completed.csv", "rows": {}}),
    ("/v1/national/deliveries", {"filename": "completed.csv", "content": "x", "colour": 1}),
    ("/v1/national/notices", []),
    ("/v1/national/notices", {"year": "2026", "as_of": "30/4", "x": 1}),
    ("/v1/national/assessment", []),
    ("/v1/national/assessment", {"year": 26, "cutoff": "2026-04-30", "shares": [], "final": "ja", "x": 1}),
    ("/v1/national/assessment", {"year": 2026, "cutoff": "2026-04-30", "shares": {}, "baseline": {}}),
])
def test_every_national_refusal_has_its_swedish_text(path, body, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BUP_NATIONAL_STORE", str(tmp_path / "api.duckdb"))
    from tests.client import client

    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    for e in r.json()["errors"]:
        assert e["message_sv"] and not e["message_sv"].startswith(FALLBACK), e


def test_the_store_and_delivery_refusals_have_swedish_text(tmp_path, monkeypatch) -> None:
    from tests.client import client

    monkeypatch.delenv("BUP_NATIONAL_STORE", raising=False)
    r = client.get("/v1/national/status", params={"year": 2026})
    assert r.status_code == 503
    assert r.json()["errors"][0]["message_sv"].startswith("ingen nationell databas")
    monkeypatch.setenv("BUP_NATIONAL_STORE", str(tmp_path / "api.duckdb"))
    r = client.get("/v1/national/deliveries/4711")
    assert r.status_code == 404 and r.json()["errors"][0]["message_sv"] == "ingen leverans 4711"
    r = client.get("/v1/national/status", params={"year": 2026, "as_of": "2026-02-30"})
    assert r.status_code == 422 and not r.json()["errors"][0]["message_sv"].startswith(FALLBACK)


def test_the_delivery_json_file_is_a_hand_written_array() -> None:
    records = json.loads((DATA / "halland_2026-03_completed.json").read_text(encoding="utf-8"))
    assert isinstance(records, list) and len(records) == 4


# -- found on the way ----------------------------------------------------------------------------------------


def test_empty_header_cells_as_excel_leaves_them_are_no_columns(tmp_path) -> None:
    """`…;Vantetid;;` (cells beside the table touched in Excel) refused the file as "this column is in the header
    twice", naming no column, and showed it as a completed file although its name says waiting."""
    text = (DATA / "halland_2026-03_waiting.csv").read_text(encoding="utf-8").replace(",", ";")
    trailing = "".join(line + ";;\r\n" for line in text.splitlines())
    d = read_delivery("halland_2026-03_waiting.csv", trailing.encode("utf-8"))
    assert d.problems == [] and d.parts == _read("halland_2026-03_waiting.csv").parts
    lines = trailing.splitlines()
    lines[2] += "x"  # a value under the last, unnamed, cell
    d = read_delivery("halland_2026-03_waiting.csv", "\r\n".join(lines).encode("utf-8"))
    (p,) = d.problems
    assert (p.row, p.message) == (3, "a value in cell 11, a column without a name in the header; expected it empty")
    assert p.message_sv.startswith("ett värde i cell 11")


def test_a_file_refused_unread_keeps_the_kind_its_name_says() -> None:
    data = (DATA / "halland_2026-03_waiting.csv").read_text(encoding="utf-8").replace("BUP", "BUP Östra")
    d = read_delivery("halland_2026-03_waiting.csv", data.encode("cp1252"))
    assert d.problems and d.kind == "waiting"  # was "completed": a refused waiting file shown as a completed one


def test_a_utf16_delivery_or_shares_file_is_named_as_utf16(tmp_path) -> None:
    """Excel's 'Unicode text' is UTF-16: it was refused as bytes 'not UTF-8 … Windows-1252 writes å like that'."""
    text = (DATA / "halland_2026-03_waiting.csv").read_text(encoding="utf-8")
    (p,) = read_delivery("halland_2026-03_waiting.csv", text.encode("utf-16")).problems
    assert "UTF-16" in p.message and "Windows-1252" not in p.message and "UTF-16" in p.message_sv
    shares = tmp_path / "shares.csv"
    shares.write_bytes((DATA / "shares_point.csv").read_text(encoding="utf-8").encode("utf-16"))
    with pytest.raises(ReportInputError, match="UTF-16"):
        read_shares(shares)


def test_ingest_with_a_manifest_that_is_not_there_or_lacks_a_column(tmp_path, capsys) -> None:
    """Both were tracebacks (FileNotFoundError, KeyError)."""
    s = str(tmp_path / "s.duckdb")
    assert main(["national", "ingest", "--store", s, "--manifest", str(tmp_path / "manifest.csv")]) == 2
    assert "cannot be read as a manifest" in capsys.readouterr().err
    (tmp_path / "m.csv").write_text("file,when\nx.csv,2026-04-01\n", encoding="utf-8")
    assert main(["national", "ingest", "--store", s, "--manifest", str(tmp_path / "m.csv")]) == 2
    assert "no column 'received'" in capsys.readouterr().err


def test_a_code_written_as_a_word_is_told_the_codes() -> None:
    """Avvikelse 'PVV' (the extract's word for it) was answered "expected a whole number": the codes were not said."""
    text = (DATA / "halland_2026-03_completed.csv").read_text(encoding="utf-8")
    text = text.replace("2026-03,1,1,2026-01-20", "2026-03,1,PVV,2026-01-20").replace("2026-03,3,,", "2026-03,U,,")
    problems = {p.column: p for p in read_delivery("halland_2026-03_completed.csv", text.encode()).problems}
    assert problems["Avvikelse"].message == "'PVV': expected empty or 1 (PVV), 2 (MOV), 3 (SOV)"
    assert problems["Avvikelse"].message_sv == "'PVV': tomt eller 1 (PVV), 2 (MOV), 3 (SOV) väntades"
    assert problems["Fas"].message.startswith("'U': expected 1 (first_visit)")


# -- integer parameters: plain ASCII digits only, never int()'s or FastAPI's lenient reading -----------------


@pytest.mark.parametrize("url", ["/v1/national/status?year=2026", "/v1/national/statistics?year=2026",
                                 "/v1/national/notices?year=2026&as_of=2026-05-01"])
@pytest.mark.parametrize("spelling", ["2_026", "+2026", " 2026 ", "2026.0", "2026 ", "٢٠٢٦", "02026", "",
                                      "201203121234", "20120312-1234"])
def test_a_year_in_anything_but_four_ascii_digits_is_a_422_naming_it(tmp_path, monkeypatch, url,
                                                                    spelling) -> None:
    """FastAPI's int read `2_026`, `+2026`, ` 2026 ` and `2026.0` as 2026: a quiet guess. Now a 422 naming
    `year` in English and Swedish, the value (here also two identity numbers) never repeated."""
    from tests.client import client

    monkeypatch.setenv("BUP_NATIONAL_STORE", str(tmp_path / "api.duckdb"))
    assert client.get(url).status_code == 200
    r = client.get(url.replace("2026", "", 1).replace("year=", ""), params={"year": spelling})
    assert r.status_code == 422, r.text
    (e,) = r.json()["errors"]
    if e["path"] == "query parameter 'year'":  # an identity number: the guard at the door refuses it first
        assert e["type"] == "identity_number"
    else:
        assert e["path"] == "year" and "four ASCII digits" in e["message"] and "fyra siffror" in e["message_sv"]
    assert "201203121234" not in r.text and "20120312-1234" not in r.text


@pytest.mark.parametrize("spelling", ["+7", " 7", "7_0", "7.0", "٧", "201203121234", "1" * 19])
def test_a_delivery_number_in_anything_but_ascii_digits_is_a_422_naming_it(tmp_path, monkeypatch,
                                                                           spelling) -> None:
    from tests.client import client

    monkeypatch.setenv("BUP_NATIONAL_STORE", str(tmp_path / "api.duckdb"))
    assert client.get("/v1/national/deliveries/7").status_code == 404  # digits: read, and no such delivery
    r = client.get(f"/v1/national/deliveries/{spelling}")
    assert r.status_code == 422, r.text
    (e,) = r.json()["errors"]
    if e.get("type") != "identity_number":  # an identity number: the guard at the door refuses it first
        assert e["path"] == "delivery_id" and "ASCII digits" in e["message"] and "siffror" in e["message_sv"]
    assert "201203121234" not in r.text


@pytest.mark.parametrize("argv", [["national", "status", "--year", "2_026"], ["national", "status", "--year", "+2026"],
                                  ["national", "deliveries", "--id", "+7"],
                                  ["national", "deliveries", "--id", "7_0"]])
def test_the_cli_reads_year_and_id_as_plain_digits_too(tmp_path, capsys, argv) -> None:
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--store", str(tmp_path / "n.duckdb")])
    assert stop.value.code == 2
    assert "ASCII digits" in capsys.readouterr().err


def test_a_region_or_period_with_no_delivery_shows_unknown_figures_never_0(store) -> None:
    """Region Gotland delivered nothing, and nobody delivered July–November: their queue periods showed
    new on the list 0, completed 0 and difference 0, as if nobody had been referred. Unknown now, null."""
    a = _assessed(store, "halland_2026-03_completed.csv", "halland_2026-03_waiting.csv",
                  read_shares(DATA / "shares_point.csv"))
    queue = {(r["region"], q["period"]): q for r in a["money"]["regions"] for q in r["queue"]}
    figures = ("new_on_list", "completed", "difference", "direct_starts", "completed_per_new_pct")
    for place in (("Region Gotland", "januari–juni"), ("Region Gotland", "juli–november"),
                  ("Region Halland", "juli–november")):
        assert {k: queue[place][k] for k in figures} == dict.fromkeys(figures), place
        assert queue[place]["not_reported_months"] == queue[place]["months"]
    assert queue[("Region Halland", "januari–juni")]["new_on_list"] == 1  # March is in: its figures count
    assert queue[("Region Halland", "januari–juni")]["completed"] == 2
    assert not [f for f in a["figures"] if f["region"] == "Region Gotland"]  # no rows of zeros for it


def test_statistics_of_counts_without_the_part_show_it_unknown_not_0(tmp_path) -> None:
    """A counts row with 40 waiting but no waiting_le30 (and 30 completed with no numerator or denominator) was
    published as 0 within 30 days and a share of 0 %: a guess. Unknown now: null, and no share."""
    from classifier.national.statistics import statistics

    p = tmp_path / "counts_2026-04.csv"
    p.write_text("region,unit,area,month,numerator,denominator,completed_all,waiting,waiting_le30,new_on_list\n"
                 "Region Gotland,,first_visit,2026-04,,,30,40,,9\n", encoding="utf-8")
    with Store(str(tmp_path / "c.duckdb")) as s:
        assert s.ingest(read_delivery(p.name, p.read_bytes()), "t", "2026-05-10T09:00:00+02:00")["status"] \
            == "accepted"
        stats = statistics(s, 2026, dt.date(2026, 5, 31))
    rows = stats["rows"]
    from classifier.national.statistics import rendered

    assert b"Region Gotland" in rendered(stats, "csv") and rendered(stats, "json")  # an unknown cell renders
    got = {r["slot"]: (r["total"], r["denominator"], r["within_limit"], r["share_within_limit"]) for r in rows
           if (r["region"], r["month"], r["area"]) == ("Region Gotland", "2026-04", "first_visit")}
    assert got == {"completed": (30, None, None, None), "waiting": (40, 40, None, None)}
    riket = {r["slot"]: r["share_within_limit"] for r in rows
             if (r["region"], r["month"], r["area"]) == ("Riket", "2026-04", "first_visit")}
    assert riket == {"completed": None, "waiting": None}
