"""The national follow-up (docs/national.md): deliveries in, checks, versions, completeness, notices, money.

Deliveries come from two places not written by the code under test: `bup-classifier month` on the
clean example extract (its regions renamed to two of the 21), and hand-written files in
tests/data/national (the shape of docs/month.md §4, typed the way a region's analyst would).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifier.cli import main
from classifier.national.assess import assess, dumps
from classifier.national.deliveries import read_delivery, regions
from classifier.national.listing import delivery_detail, delivery_list
from classifier.national.notices import answered, due_notices
from classifier.national.status import completeness, due_date
from classifier.national.status import today as swedish_today
from classifier.national.store import Store
from classifier.reporting.money import load_agreement
from classifier.reporting.records import read_source
from classifier.reporting.report import read_shares
from classifier.resources import data_dir

DATA = Path(__file__).parent / "data" / "national"
SHARES = read_shares(DATA / "shares.csv")
RENAME = {"Region Norr": "Region Norrbotten", "Region Söder": "Region Skåne"}
IDNR = "19121212-1212"  # the Skatteverket test personnummer's shape


@pytest.fixture(scope="module")
def month_out(tmp_path_factory) -> Path:
    """`bup-classifier month` on the clean example extract (regions renamed), January–June 2026."""
    d = tmp_path_factory.mktemp("month")
    text = (data_dir("examples") / "month" / "extract.csv").read_text(encoding="utf-8")
    for old, new in RENAME.items():
        text = text.replace(f",{old},", f",{new},")
    (d / "extract.csv").write_text(text, encoding="utf-8")
    assert main(["month", "--extract", str(d / "extract.csv"), "--month", "2026-01", "--to", "2026-06",
                 "--out", str(d / "out"), "--workers", "1"]) == 0
    return d / "out"


@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(str(tmp_path / "national.duckdb"))
    yield s
    s.close()


def _ingest(store: Store, path: Path, received: str, sender: str = "test", **kw) -> dict:
    return store.ingest(read_delivery(path.name, path.read_bytes(), **kw), sender, received)


def _csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode()


# -- (1) the deliveries: read, checked, stored ----------------------------------------------------

@pytest.mark.parametrize("name", ["completed.csv", "waiting.csv", "completed.json", "waiting.json"])
def test_month_delivery_is_accepted_as_written(month_out, name):
    d = read_delivery(name, (month_out / "delivery" / name).read_bytes())
    assert d.problems == []
    assert d.kind == name.split(".")[0]
    assert {r for r, _m in d.parts} == {"Region Norrbotten", "Region Skåne"}
    assert {m for _r, m in d.parts} == {f"2026-{m:02d}" for m in range(1, 7)}
    lines = (month_out / "delivery" / name.replace(".json", ".csv")).read_text().splitlines()
    assert d.rows == len(lines) - 1


def test_csv_and_json_of_one_delivery_store_the_same_rows(month_out, store):
    a = _ingest(store, month_out / "delivery" / "completed.csv", "2026-07-01T10:00")
    b = _ingest(store, month_out / "delivery" / "completed.json", "2026-07-02T10:00")
    assert [p["sha256"] for p in a["deliveries"]] == [p["sha256"] for p in b["deliveries"]]
    assert all(p["supplement"] for p in b["deliveries"])


def test_hand_written_delivery_is_accepted_and_read_back(store):
    res = _ingest(store, DATA / "gotland_2026-03_completed.csv", "2026-04-15T08:00", sender="region-gotland")
    assert res["status"] == "accepted" and res["region"] == "Region Gotland" and res["month"] == "2026-03"
    assert res["sender"] == "region-gotland" and res["received_at"] == "2026-04-15T08:00:00.000000Z"
    assert len(res["sha256"]) == 64
    (part,) = res["deliveries"]
    detail = delivery_detail(store, part["delivery_id"])
    original = list(csv.DictReader(io.StringIO((DATA / "gotland_2026-03_completed.csv").read_text())))
    assert [{k: ("" if v is None else str(v)) for k, v in r.items()} for r in detail["rows"]] == [
        {k: r[k] for k in detail["rows"][0]} for r in original]
    assert detail["file"]["sha256"] == res["sha256"]


def _problems(name: str, data: bytes, **kw) -> list[tuple]:
    return [(p.file, p.row, p.column) for p in read_delivery(name, data, **kw).problems]


HEAD_C = ["VardkontaktId", "Region", "Enhet", "Rapportmanad", "Fas", "Avvikelse", "AnkomstDatum",
          "BeslutAktivitet", "StartAktivitet", "Vantetid"]
GOOD_C = ["g-1", "Region Gotland", "BUP Visby", "2026-03", "1", "", "2026-02-10", "", "2026-03-05", "23"]


def _with(col: str, value: str) -> list[str]:
    row = list(GOOD_C)
    row[0] = "g-2"
    row[HEAD_C.index(col)] = value
    return row


@pytest.mark.parametrize(("col", "value"), [
    ("Region", "Region Norr"),  # not one of the 21
    ("StartAktivitet", "2026-04-01"),  # outside the month
    ("Rapportmanad", "2026-13"),
    ("Fas", "4"),  # a return visit is no measurement point of the agreement
    ("Avvikelse", "7"),
    ("Vantetid", "24"),  # 2026-03-05 − 2026-02-10 = 23
    ("AnkomstDatum", "2026-03-06"),  # after the contact
    ("BeslutAktivitet", "2026-02-01"),  # a first visit waits from AnkomstDatum
    ("VardkontaktId", ""),
])
def test_bad_value_is_refused_naming_file_row_and_column(col, value):
    assert _problems("completed.csv", _csv([HEAD_C, GOOD_C, _with(col, value)])) == [("completed.csv", 3, col)]


def test_json_rows_are_named_by_index_and_semicolon_csv_is_read():
    records = [dict(zip(HEAD_C, GOOD_C, strict=True)), dict(zip(HEAD_C, _with("Fas", "9"), strict=True))]
    (p,) = read_delivery("completed.json", json.dumps(records).encode()).problems
    assert (p.row, p.column, p.at) == (1, "Fas", "completed.json[1]")
    semi = "\n".join(";".join(r) for r in [HEAD_C, GOOD_C]).encode()
    d = read_delivery("completed.csv", semi)
    assert d.problems == [] and d.rows == 1


def test_lines_ended_by_a_bare_cr_are_read_and_an_unreadable_csv_is_refused_by_line():
    old_mac = "\r".join(",".join(r) for r in [HEAD_C, GOOD_C]).encode()
    d = read_delivery("completed.csv", old_mac)
    assert d.problems == [] and d.rows == 1
    huge = _csv([HEAD_C, GOOD_C]) + b'"' + b"x" * 200_000 + b'"\n'
    (p,) = read_delivery("completed.csv", huge).problems
    assert (p.row, p.message.startswith("not readable as CSV"), p.message_sv.startswith("går inte")) == (3, True, True)


def test_a_column_twice_in_the_header_is_refused():
    assert _problems("completed.csv", _csv([[*HEAD_C, "Fas"], [*GOOD_C, "1"]])) == [("completed.csv", 1, "Fas")]


def test_a_store_that_cannot_be_opened_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "not-a-db").write_text("plain text, not a database", encoding="utf-8")
    code = main(["national", "status", "--store", str(tmp_path / "not-a-db"), "--year", "2026"])
    assert code == 2 and "cannot open the national store" in capsys.readouterr().err


def test_duplicate_id_is_refused_on_its_second_row():
    probs = read_delivery("completed.csv", _csv([HEAD_C, GOOD_C, GOOD_C])).problems
    assert [(p.row, p.column) for p in probs] == [(3, "VardkontaktId")]
    assert "row 2" in probs[0].message


def test_declared_region_and_month_are_checked_against_every_row():
    data = _csv([HEAD_C, GOOD_C])
    assert _problems("completed.csv", data, region="Region Skåne") == [("completed.csv", 2, "Region")]
    assert _problems("completed.csv", data, month="2026-04") == [("completed.csv", 2, "Rapportmanad")]


def test_missing_and_unknown_columns_are_named():
    head = [c for c in HEAD_C if c != "Vantetid"] + ["Personnamn"]
    probs = _problems("completed.csv", _csv([head, GOOD_C]))
    assert ("completed.csv", 1, "Vantetid") in probs and ("completed.csv", 1, "Personnamn") in probs


def test_waiting_row_checked_against_month_end():
    head = ["VardkontaktId", "Region", "Enhet", "Rapportmanad", "Fas", "Avvikelse", "AnkomstDatum",
            "BeslutAktivitet", "Vantetid"]
    good = ["w-1", "Region Gotland", "BUP Visby", "2026-03", "3", "", "", "2026-03-15", "16"]
    assert _problems("waiting.csv", _csv([head, good])) == []
    late = list(good)
    late[7] = "2026-04-02"
    assert _problems("waiting.csv", _csv([head, late])) == [("waiting.csv", 2, "BeslutAktivitet")]
    wrong = list(good)
    wrong[8] = "15"
    assert _problems("waiting.csv", _csv([head, wrong])) == [("waiting.csv", 2, "Vantetid")]


@pytest.mark.parametrize("where", ["VardkontaktId", "Enhet", "header", "filename"])
def test_identity_number_is_refused_never_echoed_nor_stored(store, tmp_path, capsys, where):
    head, row, name = list(HEAD_C), list(GOOD_C), "completed.csv"
    if where == "header":
        head[-1] = IDNR
    elif where == "filename":
        name = f"{IDNR}.csv"
    else:
        row[HEAD_C.index(where)] = f"x {IDNR}"
    path = tmp_path / name
    path.write_bytes(_csv([head, row]))
    code = main(["national", "ingest", "--store", str(tmp_path / "s.duckdb"), str(path)])
    out = capsys.readouterr()
    assert code == 2
    assert "personal identity" in out.err
    if where not in ("header", "filename"):
        assert f"completed.csv:2: {where}" in out.err
    assert IDNR not in out.out + out.err and IDNR.replace("-", "") not in out.out + out.err
    s = Store(str(tmp_path / "s.duckdb"))
    stored = json.dumps([s.files(), s.deliveries(), s.rows("completed", [d["delivery_id"] for d in s.deliveries()])])
    if where == "filename":  # refused at the door, as over HTTP: not read, nothing of it stored
        assert s.files() == []
    s.close()
    assert "19121212" not in stored
    raw = (tmp_path / "s.duckdb").read_bytes()
    assert b"19121212" not in raw


@pytest.mark.parametrize("option", ["--region", "--month", "--sender"])
def test_identity_number_in_a_declared_value_is_never_stored(tmp_path, capsys, option):
    db = str(tmp_path / "s.duckdb")
    code = main(["national", "ingest", "--store", db, option, IDNR, str(DATA / "gotland_2026-03_completed.csv")])
    out = capsys.readouterr()
    assert code == 2 and "personal identity" in out.err
    assert "19121212" not in out.out + out.err
    s = Store(db)
    assert option != "--sender" or s.files() == []  # a sender's identity number: refused before reading
    stored = json.dumps([s.files(), s.deliveries()])
    s.close()
    assert "19121212" not in stored and b"19121212" not in (tmp_path / "s.duckdb").read_bytes()


def test_refused_file_is_recorded_with_its_reasons_and_no_rows(store):
    res = store.ingest(read_delivery("completed.csv", _csv([HEAD_C, GOOD_C, _with("Fas", "9")])), "t",
                       "2026-04-10T10:00")
    assert res["status"] == "refused" and res["deliveries"] == []
    (f,) = store.files()
    assert f["status"] == "refused" and f["region"] == "Region Gotland" and f["month"] == "2026-03"
    assert f["problems"][0]["row"] == 3 and f["problems"][0]["column"] == "Fas"
    assert store.deliveries() == []


def test_supplement_supersedes_and_every_version_stays_readable(store):
    first = _ingest(store, DATA / "gotland_2026-03_completed.csv", "2026-04-15T08:00")
    text = (DATA / "gotland_2026-03_completed.csv").read_text().replace("g-1007,1,,,,2026-03-25,",
                                                                         "g-1007,1,,2026-03-01,,2026-03-25,24")
    second = store.ingest(read_delivery("gotland_2026-03_completed.csv", text.encode()), "t", "2026-05-02T08:00")
    assert second["status"] == "accepted", second["problems"]
    (a,), (b,) = first["deliveries"], second["deliveries"]
    assert b["supplement"] and b["supersedes"] == a["delivery_id"] and a["sha256"] != b["sha256"]
    listing = {d["delivery_id"]: d for d in delivery_list(store, "Region Gotland", "2026-03")["deliveries"]}
    assert listing[a["delivery_id"]]["superseded_by"] == b["delivery_id"] and listing[b["delivery_id"]]["in_force"]
    assert len(delivery_detail(store, a["delivery_id"])["rows"]) == 7
    assert delivery_detail(store, b["delivery_id"])["rows"][-1]["Vantetid"] == 24


def test_counts_format_is_accepted_and_checked(store):
    res = _ingest(store, DATA / "counts_2026-04.csv", "2026-05-10T08:00")
    assert res["status"] == "accepted" and res["kind"] == "counts"
    bad = (DATA / "counts_2026-04.csv").read_text().replace("18,20,21", "22,20,21")
    probs = read_delivery("counts.csv", bad.encode()).problems
    assert [(p.row, p.column) for p in probs] == [(2, "numerator")]
    assert probs[0].message_sv == "numerator 22 är större än denominator 20", probs[0].message_sv  # for the notice
    wrong = (DATA / "counts_2026-04.csv").read_text().replace(",2026-04,", ",2026-4,", 1)
    (p,) = read_delivery("counts.csv", wrong.encode()).problems
    assert p.column == "month" and "ÅÅÅÅ-MM" in p.message_sv and "expected" not in p.message_sv
    twice = (DATA / "counts_2026-04.csv").read_text() + "Region Gotland,,treatment,2026-04,1,1,1,0,0,\n"
    assert [(p.row, p.column) for p in read_delivery("counts.csv", twice.encode()).problems] == [(5, "area")]


# -- (2) completeness -----------------------------------------------------------------------------

def test_due_day_is_data_with_its_source():
    doc = data_dir("rules") / "national.yaml"
    assert "Informationsmodell" in doc.read_text(encoding="utf-8")
    assert due_date("2026-03") == dt.date(2026, 4, 20) and due_date("2026-12") == dt.date(2027, 1, 20)


def test_the_21_regions_are_data():
    assert len(regions()) == 21 and "Västra Götalandsregionen" in regions() and regions()["Region Gotland"] == "09"


def test_completeness_states(store):
    _ingest(store, DATA / "gotland_2026-03_completed.csv", "2026-04-20T21:00")  # on the due day (Swedish time)
    _ingest(store, DATA / "gotland_2026-03_waiting.csv", "2026-04-21T08:00")  # a day late
    store.ingest(read_delivery("completed.csv", _csv([HEAD_C, _with("Rapportmanad", "2026-02")])), "t", "2026-03-10")
    _ingest(store, DATA / "counts_2026-04.csv", "2026-05-10T08:00")
    _ingest(store, DATA / "counts_2026-04.csv", "2026-05-12T08:00")  # a supplement of the same month
    s = completeness(store, 2026, dt.date(2026, 5, 31))
    got = next(r for r in s["regions"] if r["region"] == "Region Gotland")["months"]
    by = {m["month"]: m for m in got}
    assert by["2026-03"]["completed"]["state"] == "delivered"
    assert by["2026-03"]["waiting"]["state"] == "late"
    assert by["2026-02"]["completed"]["state"] == "invalid"  # refused: the contact is not in February
    assert by["2026-02"]["completed"]["refused"][0]["problems"][0]["column"] == "StartAktivitet"
    assert by["2026-02"]["waiting"]["state"] == "missing"
    assert by["2026-04"]["completed"]["supplemented"] and len(by["2026-04"]["waiting"]["superseded"]) == 1
    assert by["2026-05"]["completed"]["state"] == "not_due"
    assert s["totals"]["missing"] > 0 and len(s["regions"]) == 21
    # as of an earlier day, the later files do not count
    early = completeness(store, 2026, dt.date(2026, 4, 20))
    gm = {m["month"]: m for m in next(r for r in early["regions"] if r["region"] == "Region Gotland")["months"]}
    assert gm["2026-03"]["completed"]["state"] == "delivered" and gm["2026-03"]["waiting"]["state"] == "not_due"


# -- (3) notices ----------------------------------------------------------------------------------

def test_notice_in_swedish_recorded_and_answered_by_the_supplement(store):
    _ingest(store, DATA / "gotland_2026-03_completed.csv", "2026-04-15T08:00")
    notices = due_notices(store, 2026, dt.date(2026, 4, 25))
    gotland = next(n for n in notices if n["region"] == "Region Gotland")
    assert [(i["month"], i["file"]) for i in gotland["items"]] == [("2026-01", "completed"), ("2026-01", "waiting"),
                                                                    ("2026-02", "completed"), ("2026-02", "waiting"),
                                                                    ("2026-03", "waiting")]
    assert "Skicka in en komplettering senast 25 maj 2026" in gotland["text"]
    assert "mars 2026, väntande vid månadens slut" in gotland["text"]
    assert gotland["html"].startswith("<!doctype html><html lang='sv'>") and "<script" not in gotland["html"]
    assert len(notices) == 21  # nobody else has delivered anything
    store.record_notice(gotland)
    (before,) = answered(store, store.notices())
    assert before["state"] == "open"
    _ingest(store, DATA / "gotland_2026-03_waiting.csv", "2026-05-03T08:00")
    (after,) = answered(store, store.notices())
    assert after["state"] == "partly_answered"
    item = next(i for i in after["items"] if i["month"] == "2026-03")
    assert item["answered_on"] == "2026-05-03" and item["in_time"]


def test_notice_quotes_the_checks_in_swedish(store):
    """A refused file's reasons appear in the Swedish notice in Swedish (rules/national.yaml `problems`)."""
    text = (DATA / "gotland_2026-03_completed.csv").read_text(encoding="utf-8")
    text = text.replace("2026-03-05,23", "2026-03-05,24").replace("2026-02-20,", "2026-02-20,x")
    res = store.ingest(read_delivery("gotland_2026-03_completed.csv", text.encode()), "t", "2026-04-15T08:00")
    assert res["status"] == "refused"
    assert [(p["row"], p["column"], p["message"]) for p in res["problems"]] == [
        (2, "Vantetid", "24 does not match its dates: expected 23 (2026-03-05 − 2026-02-10)"),
        (5, "StartAktivitet", "expected a date 'YYYY-MM-DD', got 'x2026-03-12'")]
    gotland = next(n for n in due_notices(store, 2026, dt.date(2026, 4, 25)) if n["region"] == "Region Gotland")
    line = next(x for x in gotland["text"].splitlines() if x.startswith("- mars 2026, genomförda"))
    assert "rad 2, kolumn Vantetid: 24 stämmer inte med datumen: 23 väntades (2026-03-05 − 2026-02-10)" in line
    assert "rad 5, kolumn StartAktivitet: ett datum 'ÅÅÅÅ-MM-DD' väntades, fick 'x2026-03-12'" in line
    assert "does not match" not in gotland["text"] and "expected" not in gotland["text"]


def test_every_check_has_a_swedish_text_with_the_same_values():
    import string

    from classifier.national.deliveries import settings

    for code, words in settings()["problems"].items():
        names = {lang: {f for _t, f, _s, _c in string.Formatter().parse(words[lang]) if f} for lang in ("en", "sv")}
        assert words["sv"] and words["sv"] != words["en"], code
        # the same values; a quoted check's message is quoted in its own language (message / message_sv)
        assert names["sv"] - {"message_sv"} <= names["en"] and names["en"] - names["sv"] <= {"message"}, code


# -- (4) the assessment and the money -------------------------------------------------------------

def test_assessment_counts_equal_the_month_layers_own_figures(month_out, store):
    for name in ("completed.csv", "waiting.csv"):
        _ingest(store, month_out / "delivery" / name, "2026-07-05T08:00")
    a = assess(store, 2026, dt.date(2026, 7, 31), SHARES)
    nat = {(f["region"], f["area"], f["month"]): f for f in a["figures"]}
    rows = [r for r in csv.DictReader((month_out / "figures.csv").open(encoding="utf-8"))
            if r["level"] == "region" and r["view"] == "as_rules"]
    assert rows
    for r in rows:
        f = nat[(r["region"], r["area"], r["month"])]
        for k in ("numerator", "denominator", "completed_all", "waiting", "waiting_le30", "new_on_list"):
            assert str(f[k]) == r[k], (r["region"], r["area"], r["month"], k)


def test_hand_written_month_assessed_by_hand(store):
    _ingest(store, DATA / "gotland_2026-03_completed.csv", "2026-04-15T08:00")
    _ingest(store, DATA / "gotland_2026-03_waiting.csv", "2026-04-15T08:00")
    a = assess(store, 2026, dt.date(2026, 7, 31), SHARES, baseline=[read_source(DATA / "baseline_2025.csv")])
    f = {(x["area"]): x for x in a["figures"] if x["region"] == "Region Gotland" and x["month"] == "2026-03"}
    fv = f["first_visit"]
    assert (fv["numerator"], fv["denominator"], fv["completed_all"]) == (1, 2, 4)
    assert (fv["waiting"], fv["waiting_le30"], fv["new_on_list"]) == (2, 1, 1)
    assert (f["investigation"]["numerator"], f["investigation"]["denominator"]) == (1, 1)
    assert (f["treatment"]["numerator"], f["treatment"]["denominator"], f["treatment"]["completed_all"]) == (0, 1, 2)
    assert (f["treatment"]["waiting"], f["investigation"]["waiting_le30"]) == (0, 1)
    assert a["without_wait_start"] == 1
    region = next(r for r in a["money"]["regions"] if r["region"] == "Region Gotland")
    march = {m["area"]: m for m in region["months"] if m["month"] == "2026-03"}
    # 50.0 % against 30.0 % the year before (the baseline input): +20 points, alternative one, 100 %
    assert march["first_visit"]["change_pp"] == 20.0 and march["first_visit"]["pays_fraction"] == 1.0
    # DOMAIN §7 / docs/money.md: 210 MSEK × 0.005780 = 121 380 000 öre a year, split evenly over the 11
    # measured months of 2026 in whole öre that add up: each month 11 034 545 or 11 034 546 öre
    annual = 210 * 100_000_000 * Fraction(SHARES["Region Gotland"])
    assert annual == 121_380_000
    fv_pots = [m["pot_ore"] for m in region["months"] if m["area"] == "first_visit"]
    assert len(fv_pots) == 3 and set(fv_pots) <= {annual // 11, annual // 11 + 1}  # January–March are due
    # the year's four areas × the share, to the öre: the months and periods due plus what is not yet due
    assert region["paid_ore"] + region["to_bonus_ore"] + region["held_ore"] + region["not_yet_due_ore"] == 4 * annual
    assert march["first_visit"]["paid_ore"] == march["first_visit"]["pot_ore"]
    assert march["first_visit"]["status"] == "reported" and march["first_visit"]["to_bonus_ore"] == 0
    # investigation 1 of 1 (100 %), the one waiting within 30 days: alternative two pays 100 %
    assert march["investigation"]["rule"] == "alternative_two"
    assert march["investigation"]["paid_ore"] == march["investigation"]["pot_ore"]
    # treatment 0 of 1 within 30 days, 1 of 2 last year (50.0 %): −50 points, and 0 % is below 75 %; nobody waiting
    t = march["treatment"]
    assert (t["status"], t["paid_ore"], t["to_bonus_ore"]) == ("reported", 0, t["pot_ore"])
    assert t["nobody_waiting"] is True and t["status_words"]["code"] == "nobody_waiting"
    assert {w["code"] for w in t["why_not_met"]} == {"alternative_one_failed", "alternative_two_completed_failed"}
    # a month nobody delivered is held, never "target not met"
    jan = next(m for m in region["months"] if m["month"] == "2026-01")
    assert jan["status"] == "not_reported" and jan["held_ore"] == jan["pot_ore"] > 0 and jan["paid_ore"] == 0
    assert jan["to_bonus_ore"] == 0
    assert len(a["money"]["regions"]) == 21
    assert a["conservation"]["balanced"] is True


def test_month_with_files_but_nothing_completed_is_its_own_status(store):
    """DOMAIN §7: denominator 0 is "nothing completed", reported, its money not earned (to the bonus pot)."""
    counts = ("region,unit,area,month,numerator,denominator,completed_all,waiting,waiting_le30,new_on_list\n"
              "Region Gotland,,first_visit,2026-04,3,4,4,0,0,0\n"
              "Region Gotland,,investigation,2026-04,0,0,0,3,3,\n"
              "Region Gotland,,treatment,2026-04,0,0,0,0,0,\n")
    assert store.ingest(read_delivery("counts.csv", counts.encode()), "t", "2026-05-10T08:00")["status"] == "accepted"
    a = assess(store, 2026, dt.date(2026, 7, 31), SHARES)
    region = next(r for r in a["money"]["regions"] if r["region"] == "Region Gotland")
    april = {m["area"]: m for m in region["months"] if m["month"] == "2026-04"}
    for area in ("investigation", "treatment"):
        m = april[area]
        assert m["status"] == "nothing_completed" and (m["paid_ore"], m["held_ore"]) == (0, 0)
        assert m["to_bonus_ore"] == m["pot_ore"] > 0
        assert m["status_words"]["sv"].startswith("inget genomfört")
    # 3 of 4 = 75 %, and the counts say nobody waiting (waiting 0, given): alternative two holds
    assert april["first_visit"]["status"] == "reported" and april["first_visit"]["nobody_waiting"] is True
    assert april["first_visit"]["paid_ore"] == april["first_visit"]["pot_ore"]
    assert ("Region Gotland", "2026-04") not in {(n["region"], n["month"]) for n in a["money"]["not_reported"]}


def test_cutoff_counts_only_what_was_stored_by_then_and_is_byte_identical(store):
    _ingest(store, DATA / "gotland_2026-03_completed.csv", "2026-04-15T08:00")
    _ingest(store, DATA / "gotland_2026-03_waiting.csv", "2026-04-15T08:00")
    july = dumps(assess(store, 2026, dt.date(2026, 7, 31), SHARES))
    _ingest(store, DATA / "counts_2026-04.csv", "2026-08-02T08:00")  # after the cut-off
    assert dumps(assess(store, 2026, dt.date(2026, 7, 31), SHARES)) == july
    later = assess(store, 2026, dt.date(2026, 8, 31), SHARES)
    assert any(f["month"] == "2026-04" for f in later["figures"])
    assert dumps(later) != july


def test_block_one_from_population_input(tmp_path, store):
    pop = tmp_path / "population.csv"
    pop.write_text("region,population,source\n" + "".join(
        f"{r},{1000 * (i + 1)},test figures (not official)\n" for i, r in enumerate(regions())), encoding="utf-8")
    b = assess(store, 2026, dt.date(2026, 7, 31), SHARES, population=read_source(pop))["block_one"]
    # DOMAIN §7: 150 MSEK, 5 MSEK to each of the 21, the other 45 MSEK by population (1000·i of 231 000)
    assert b["status"] == "complete" and sum(r["total_ore"] for r in b["regions"]) == 150 * 100_000_000
    by_name = {r["region"]: r for r in b["regions"]}
    for i, name in enumerate(regions()):
        exact = Fraction(45 * 100_000_000 * 1000 * (i + 1), 231_000)
        assert by_name[name]["base_ore"] == 5 * 100_000_000
        assert abs(by_name[name]["by_population_ore"] - exact) < 1, name
    assert b["population_sources"] == ["test figures (not official)"] and "Block ett" in b["source"]
    assert assess(store, 2026, dt.date(2026, 7, 31), SHARES)["block_one"]["regions"] == []  # no population: none


def test_block_one_amounts_have_one_home():
    """The agreement's block-one amounts live in rules/agreement.yaml only, not in rules/national.yaml."""
    from classifier.national.deliveries import settings

    assert "block_one" not in settings()
    assert load_agreement()["block_one"]["base_msek"] == 5


MONTHS = [f"2026-{m:02d}" for m in range(1, 12)]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(sorted(regions())), st.sampled_from(MONTHS),
                          st.sampled_from(["first_visit", "investigation", "treatment"]),
                          st.integers(0, 40), st.integers(0, 40), st.integers(0, 30), st.integers(0, 30)),
                min_size=1, max_size=40),
       st.booleans())
def test_money_is_conserved(tmp_path_factory, cells, final):
    """Payouts + bonus paid + held + undistributed = the pots of every decided month and period (MSEK)."""
    seen, lines = set(), ["region,area,month,numerator,denominator,completed_all,waiting,waiting_le30,new_on_list"]
    for region, month, area, a, b, c, d in cells:
        if (region, month, area) in seen:
            continue
        seen.add((region, month, area))
        num, den, w, wl = min(a, b), max(a, b), max(c, d), min(c, d)
        lines.append(f"{region},{area},{month},{num},{den},{den},{w},{wl},{wl if area == 'first_visit' else ''}")
    s = Store(str(tmp_path_factory.mktemp("p") / "s.duckdb"))
    try:
        res = s.ingest(read_delivery("counts.csv", "\n".join(lines).encode()), "t", "2026-06-01")
        assert res["status"] == "accepted", res["problems"]
        a = assess(s, 2026, dt.date(2026, 12, 31), SHARES, final=final)
    finally:
        s.close()
    c = a["conservation"]
    parts = ("paid_ore", "held_ore", "not_yet_due_ore", "bonus_shared_ore", "undistributed_ore")
    # to the öre: every pot ends in exactly one place (docs/money.md)
    assert c["balanced"] is True and sum(c[k] for k in parts) == c["expected_ore"]
    # the year's 840 MSEK split by the shares (summing to 1), in whole öre
    assert sum(Fraction(v) for v in SHARES.values()) == 1 and c["expected_ore"] == 840 * 100_000_000
    rows = [m for r in a["money"]["regions"] for m in r["months"] + r["queue"]]
    assert sum(m["paid_ore"] or 0 for m in rows) == c["paid_ore"]
    if final:  # every measured month decided: nothing held, nothing left for later
        assert c["held_ore"] == c["not_yet_due_ore"] == 0


# -- storage: PostgreSQL gives the same assessment ------------------------------------------------

@pytest.mark.slow
def test_postgresql_store_gives_the_same_assessment(postgres, store):
    pg = Store(postgres.url)
    try:
        for s in (store, pg):
            _ingest(s, DATA / "gotland_2026-03_completed.csv", "2026-04-15T08:00")
            _ingest(s, DATA / "gotland_2026-03_waiting.csv", "2026-04-15T08:00")
            _ingest(s, DATA / "counts_2026-04.csv", "2026-05-15T08:00")
            _ingest(s, DATA / "counts_2026-04.csv", "2026-05-16T08:00")
        one, two = (assess(s, 2026, dt.date(2026, 7, 31), SHARES) for s in (store, pg))
        one["store"].pop("backend"), two["store"].pop("backend")
        for a in (one, two):
            for u in a["deliveries_used"]:
                u.pop("delivery_id")
        assert dumps(one) == dumps(two)
        assert [d["sha256"] for d in delivery_list(pg)["deliveries"]] == [
            d["sha256"] for d in delivery_list(store)["deliveries"]]
    finally:
        pg.close()


# -- the API --------------------------------------------------------------------------------------

@pytest.fixture
def api(tmp_path, monkeypatch):
    monkeypatch.setenv("BUP_NATIONAL_STORE", str(tmp_path / "api.duckdb"))
    from tests.client import client

    return client


def test_api_delivery_in_versions_out_status_and_assessment(api):
    content = (DATA / "gotland_2026-03_completed.csv").read_text()
    r = api.post("/v1/national/deliveries", json={"filename": "completed.csv", "content": content})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["sender"] == "anonymous" and body["deliveries"][0]["region"] == "Region Gotland"
    listing = api.get("/v1/national/deliveries", params={"region": "Region Gotland"}).json()
    (d,) = listing["deliveries"]
    one = api.get(f"/v1/national/deliveries/{d['delivery_id']}").json()
    assert len(one["rows"]) == 7 and one["rows"][0]["VardkontaktId"] == "g-1001"
    assert api.get("/v1/national/deliveries/999999").status_code == 404
    st_ = api.get("/v1/national/status", params={"year": 2026}).json()  # as of today: received today
    g = next(x for x in st_["regions"] if x["region"] == "Region Gotland")
    assert g["months"][2]["completed"]["state"] in ("late", "delivered")  # late unless the test runs by 20 April 2026
    assert api.get("/v1/national/status", params={"year": 2026, "as_of": "2026-02-30"}).status_code == 422
    a = api.post("/v1/national/assessment", json={"year": 2026, "cutoff": swedish_today().isoformat(),
                                                 "shares": {k: str(v) for k, v in SHARES.items()}})
    assert a.status_code == 200, a.text
    assert len(a.json()["money"]["regions"]) == 21


def test_api_refuses_bad_delivery_with_row_and_column_and_records_it(api):
    bad = _csv([HEAD_C, GOOD_C, _with("StartAktivitet", "2026-04-02")]).decode()
    r = api.post("/v1/national/deliveries", json={"filename": "completed.csv", "content": bad})
    assert r.status_code == 422
    paths = [e["path"] for e in r.json()["errors"]]
    assert "completed.csv:3.StartAktivitet" in paths
    assert all(e["message_sv"] != f"ogiltigt värde ({e['message']})" for e in r.json()["errors"])
    garbage = api.post("/v1/national/deliveries", json={"content": "\u0082\u00b0&\u00cc\u00c6\r\u00ea",
                                                        "filename": "\u00ed"})  # schemathesis found a 500 here
    assert garbage.status_code == 422, garbage.text
    assert api.get("/v1/national/deliveries").json()["refused_files"][0]["problems"][0]["row"] == 3


def test_api_never_echoes_an_identity_number(api):
    bad = _csv([HEAD_C, _with("VardkontaktId", IDNR)]).decode()
    r = api.post("/v1/national/deliveries", json={"filename": "completed.csv", "content": bad})
    assert r.status_code == 422 and IDNR not in r.text and "19121212" not in r.text
    assert "completed.csv:2.VardkontaktId" in [e["path"] for e in r.json()["errors"]]
    r = api.post("/v1/national/deliveries", json={"filename": IDNR, "content": "x"})
    assert r.status_code == 422 and "19121212" not in r.text
    assert "19121212" not in api.get("/v1/national/deliveries").text


def test_api_records_notices_and_needs_a_configured_store(api, monkeypatch):
    r = api.post("/v1/national/notices", json={"year": 2026, "as_of": "2026-04-30"})
    assert r.status_code == 200 and len(r.json()) == 21 and all(n["notice_id"] for n in r.json())
    listed = api.get("/v1/national/notices").json()
    assert [n["state"] for n in listed] == ["open"] * 21
    assert api.post("/v1/national/notices", json={"year": 2026, "as_of": "30/4"}).status_code == 422
    monkeypatch.delenv("BUP_NATIONAL_STORE")
    r = api.get("/v1/national/status", params={"year": 2026})
    assert r.status_code == 503 and "BUP_NATIONAL_STORE" in r.text


def test_cli_status_and_notices_print(tmp_path, capsys):
    s = str(tmp_path / "s.duckdb")
    assert main(["national", "ingest", "--store", s, "--received", "2026-04-15T08:00",
                 str(DATA / "gotland_2026-03_completed.csv")]) == 0
    assert main(["national", "status", "--store", s, "--year", "2026", "--as-of", "2026-04-30"]) == 0
    out = capsys.readouterr().out
    assert "Region Gotland" in out and "Västra Götalandsregionen" in out
    assert main(["national", "notices", "--store", s, "--year", "2026", "--as-of", "2026-04-30", "--record",
                 "--out", str(tmp_path / "n")]) == 0
    out = capsys.readouterr().out
    assert "obesvarat" in out and len(list((tmp_path / "n").glob("*.html"))) == 21


# -- (5) the written basis ------------------------------------------------------------------------

def test_basis_is_self_contained_swedish_and_suppresses_small_cells(tmp_path, capsys):
    s = str(tmp_path / "s.duckdb")
    for f in ("gotland_2026-03_completed.csv", "gotland_2026-03_waiting.csv"):
        assert main(["national", "ingest", "--store", s, "--received", "2026-04-15T08:00", str(DATA / f)]) == 0
    out = tmp_path / "basis.html"
    assert main(["national", "basis", "--store", s, "--year", "2026", "--payout", "augusti",
                 "--shares", str(DATA / "shares.csv"), "--out", str(out)]) == 0
    assert "cut-off 2026-07-31" in capsys.readouterr().out  # the basis's day from rules/national.yaml
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html><html lang='sv'>")
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert all(f"<td>{r}</td>" in page for r in regions())  # the money table holds all 21 regions
    assert "<th>Riket</th>" in page and "Ej rapporterat" in page and "Informationsmodell" in page
    gotland = page[page.index("<h3>Region Gotland</h3>"):]
    march = gotland[gotland.index("<td>2026-03</td><td>Första besök</td>"):][:300]
    assert "&lt;5 / &lt;5" in march  # 1 of 2: suppressed in a published document
    assert main(["national", "basis", "--store", s, "--year", "2026", "--payout", "juni",
                 "--shares", str(DATA / "shares.csv"), "--out", str(out)]) == 2


# -- (7) the simulated country --------------------------------------------------------------------

@pytest.fixture(scope="module")
def country(tmp_path_factory):
    """A simulated country's January–June, ingested in the order and at the times of its manifest."""
    from classifier.national.simulate import simulate

    d = tmp_path_factory.mktemp("country")
    key = simulate(d, seed=7, months=6, scale=0.02)
    assert main(["national", "ingest", "--store", str(d / "s.duckdb"), "--manifest", str(d / "manifest.csv")]) == 2
    s = Store(str(d / "s.duckdb"))
    yield d, key, s
    s.close()


def test_simulate_regions_21_is_the_country_and_its_answer_key(tmp_path, capsys):
    """`simulate --regions 21` (issue 24 §7) writes what `national simulate` writes, byte for byte."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["simulate", "--regions", "21", "--out", str(a), "--months", "2", "--scale", "0.02"]) == 0
    assert main(["national", "simulate", "--out", str(b), "--months", "2", "--scale", "0.02"]) == 0
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files and files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert main(["simulate", "--regions", "21", "--patients", "10", "--out", str(a)]) == 2
    assert main(["simulate", "--out", str(a)]) == 2
    assert "--patients N" in capsys.readouterr().err


def test_simulated_country_completeness_is_the_answer_key(country):
    _d, key, s = country
    status = completeness(s, 2026, dt.date.fromisoformat(key["as_of"]))
    expected = {(c["region"], c["month"]): c for c in key["states_as_of"]}
    for r in status["regions"]:
        for m in r["months"]:
            cell = expected.get((r["region"], m["month"]))
            if cell is not None:
                assert (m["completed"]["state"], m["waiting"]["state"]) == (cell["completed"], cell["waiting"])
                assert len(m["waiting"]["superseded"]) == cell.get("superseded", 0)
            elif m["month"] <= "2026-06":
                assert (m["completed"]["state"], m["waiting"]["state"]) == ("delivered", "delivered"), (r, m["month"])
                assert not m["completed"]["supplemented"] and not m["waiting"]["supplemented"]
            else:
                assert m["completed"]["state"] == m["waiting"]["state"] == "not_due"


def test_simulated_country_notices_and_answers_are_the_answer_key(country):
    _d, key, s = country
    notices = due_notices(s, 2026, dt.date.fromisoformat(key["as_of"]))
    got = sorted(({"region": n["region"], "month": m, "files": sorted(i["file"] for i in n["items"] if i["month"] == m)}
                  for n in notices for m in sorted({i["month"] for i in n["items"]})),
                 key=lambda x: (x["region"], x["month"]))
    assert got == key["notices_as_of"]
    for n in notices:
        n["notice_id"] = None
    answers = answered(s, notices)
    done = sorted(({"region": n["region"], "month": i["month"], "files": [i["file"]]} for n in answers
                   for i in n["items"] if i["answered_by"]), key=lambda x: (x["region"], x["month"], x["files"]))
    merged: dict = {}
    for x in done:
        merged.setdefault((x["region"], x["month"]), []).extend(x["files"])
    assert [{"region": r, "month": m, "files": f} for (r, m), f in sorted(merged.items())] == key["answered_after"]


def test_simulated_country_money_held_until_supplemented(country):
    _d, key, s = country
    july = assess(s, 2026, dt.date.fromisoformat(key["as_of"]), SHARES)
    after = assess(s, 2026, dt.date.fromisoformat(key["after"]), SHARES)

    def status(a: dict, region: str, month: str) -> set:
        r = next(x for x in a["money"]["regions"] if x["region"] == region)
        return {m["status"] for m in r["months"] if m["month"] == month}

    def counted(a: dict, region: str, month: str) -> set:
        """DOMAIN §7: a reported area with nothing completed (denominator 0) is "nothing completed"."""
        return {"nothing_completed" if f["denominator"] == 0 else "reported" for f in a["figures"]
                if f["region"] == region and f["month"] == month}

    for c in key["held_then_decided"]:
        assert status(july, c["region"], c["month"]) == {"not_reported"}
        assert status(after, c["region"], c["month"]) == counted(after, c["region"], c["month"])
        assert len(counted(after, c["region"], c["month"])) >= 1
    for c in key["never_delivered"]:
        assert status(july, c["region"], c["month"]) == status(after, c["region"], c["month"]) == {"not_reported"}
    held = {(n["region"], n["month"]) for n in july["money"]["not_reported"]}
    assert held == {(c["region"], c["month"]) for c in key["held_then_decided"] + key["never_delivered"]}
    for a in (july, after):
        assert a["conservation"]["balanced"] is True  # to the öre
        every = [m for r in a["money"]["regions"] for m in r["months"]]
        for m in every:  # each decided month's pot is paid, to the bonus pot or held: to the öre
            assert m["paid_ore"] + m["to_bonus_ore"] + m["held_ore"] == m["pot_ore"]
            assert (m["status"] == "nothing_completed") == (m["denominator"] == 0)


def test_national_paths_need_the_national_role():
    from api.security import ROLES, Caller, access_for, allowed

    assert "national" in ROLES
    for path in ("/v1/national/deliveries", "/v1/national/deliveries/3", "/v1/national/status",
                 "/v1/national/notices", "/v1/national/assessment", "/v1/national/statistics"):
        assert access_for(path) == "national"
    assert allowed(Caller("region", frozenset({"national"})), "national")
    assert not allowed(Caller("clinic", frozenset({"classify", "audit"})), "national")


@pytest.mark.slow  # Debian's chromium prints the PDF
def test_basis_as_pdf(tmp_path, capsys):
    s = str(tmp_path / "s.duckdb")
    assert main(["national", "ingest", "--store", s, "--received", "2026-04-15T08:00",
                 str(DATA / "gotland_2026-03_completed.csv")]) == 0
    assert main(["national", "basis", "--store", s, "--year", "2026", "--payout", "augusti", "--shares",
                 str(DATA / "shares.csv"), "--out", str(tmp_path / "b.html"), "--pdf", str(tmp_path / "b.pdf")]) == 0
    assert (tmp_path / "b.pdf").read_bytes()[:5] == b"%PDF-"


# -- (6) the public statistics table ---------------------------------------------------------------

HALLAND = ["halland_2026-02_completed.csv", "halland_2026-02_waiting.csv", "halland_2026-03_completed.csv"]
HEAD_SV = ["Region", "Månad", "Genomförda eller väntande", "Mätpunkt", "Andel inom 30 dagar (%)", "Totalt antal",
           "Antal exkl. PVV", "Inom 30 dagar", "PVV 31 dagar eller mer", "Svarsfrekvens (%)"]
# Worked out by hand from the three files (tests/data/national/halland_*.csv, written for this test):
# February, completed first visits: 9 within 30 days, 5 over, 6 PVV (one at 10 days, five at 31+), 2 MoV →
# total 22, excluding PVV 16, within 30 = 9 + the PVV at 10 days = 10, denominator 9 + 5 + 1 = 15, share 66.7,
# PVV 31+ 5. February, waiting first visits (semicolon CSV, one unit): 6 within 30, 5 over, 5 PVV 31+, 1 PVV at
# 12 days → total 17, excluding PVV 11, within 30 7, denominator 12, share 58.3. Units: Halmstad and Varberg in
# February, Kungsbacka in March (completed only) → 3 known; February 2 of 3 = 66.7 %, March completed 1 of 3 =
# 33.3 %, March waiting not delivered = 0.0 %. Three investigations in February and the March rows are under 5.
BY_HAND = {
    ("Region Halland", "2026-02", "Genomförda", "BUP första besök"): ["66,7", "22", "16", "10", "5", "66,7"],
    ("Region Halland", "2026-02", "Väntande", "BUP första besök"): ["58,3", "17", "11", "7", "5", "66,7"],
    ("Region Halland", "2026-02", "Genomförda", "BUP utredning"): ["<5", "<5", "<5", "<5", "0", "66,7"],
    ("Region Halland", "2026-02", "Genomförda", "BUP behandling"): ["", "0", "0", "0", "0", "66,7"],
    ("Region Halland", "2026-03", "Genomförda", "BUP första besök"): ["<5", "<5", "<5", "<5", "0", "33,3"],
    ("Region Halland", "2026-03", "Väntande", "BUP första besök"): ["", "", "", "", "", "0,0"],
    ("Riket", "2026-02", "Genomförda", "BUP första besök"): ["66,7", "22", "16", "10", "5", "66,7"],
    ("Region Gotland", "2026-02", "Genomförda", "BUP första besök"): ["", "", "", "", "", ""],
}


@pytest.fixture
def halland(tmp_path) -> str:
    s = str(tmp_path / "h.duckdb")
    assert main(["national", "ingest", "--store", s, "--received", "2026-03-25T09:00",
                 *(str(DATA / f) for f in HALLAND)]) == 0
    return s


def test_statistics_csv_and_xlsx_read_back_as_computed_by_hand(halland, tmp_path, capsys):
    from python_calamine import CalamineWorkbook

    for fmt in ("csv", "xlsx"):
        assert main(["national", "statistics", "--store", halland, "--year", "2026", "--as-of", "2026-03-31",
                     "--out", str(tmp_path / f"t.{fmt}")]) == 0
    assert "cells under 5 suppressed" in capsys.readouterr().out
    raw = (tmp_path / "t.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, as Swedish Excel reads it
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0] == HEAD_SV
    assert len(rows) - 1 == 22 * 3 * 2 * 3  # 21 regions and Riket × January–March × two files × three points
    by_key = {tuple(r[:4]): r[4:] for r in rows[1:]}
    sheet = CalamineWorkbook.from_path(str(tmp_path / "t.xlsx")).get_sheet_by_name("BUP 2026").to_python()
    assert [str(c) for c in sheet[0]] == HEAD_SV
    in_book = {tuple(str(c) for c in r[:4]): r[4:] for r in sheet[1:]}
    assert isinstance(in_book[("Region Halland", "2026-02", "Genomförda", "BUP första besök")][1], float)  # a number
    for key, want in BY_HAND.items():
        assert by_key[key] == want, key
        got = in_book[key]
        assert [f"{v:.1f}".replace(".", ",") if isinstance(v, float) and i in (0, 5) else
                (str(int(v)) if isinstance(v, float) else str(v)) for i, v in enumerate(got)] == want, key


def test_statistics_as_of_a_date_before_the_deliveries_holds_nothing(halland):
    from classifier.national.statistics import statistics

    with Store(halland) as s:
        stats = statistics(s, 2026, dt.date(2026, 3, 24))
    assert all(r["total"] is None for r in stats["rows"])
    assert {r["response_rate"] for r in stats["rows"]} == {None}  # no unit known yet
    assert stats["store"]["files"] == 0


def test_statistics_suppression_is_the_reports_rule(halland):
    """A share hides with its numerator when the rest of the denominator is under 5 (report.hidden_fields)."""
    from classifier.national.statistics import statistics

    with Store(halland) as s:
        rows = statistics(s, 2026, dt.date(2026, 3, 31))["rows"]
    inv = next(r for r in rows if (r["region"], r["month"], r["slot"], r["area"]) ==
               ("Region Halland", "2026-02", "completed", "investigation"))
    assert inv["suppressed"] == ["denominator", "excluding_pvv", "share_within_limit", "total", "within_limit"]
    assert inv["total"] is None and inv["pvv_long"] == 0 and inv["units_reported"] == 2


def test_api_statistics_as_json_csv_and_xlsx(api):
    for name in HALLAND:
        assert api.post("/v1/national/deliveries", json={"filename": name, "content": (DATA / name).read_text()}
                        ).status_code == 201
    today = swedish_today().isoformat()
    j = api.get("/v1/national/statistics", params={"year": 2026, "as_of": today}).json()
    fv = next(r for r in j["rows"] if (r["region"], r["month"], r["slot"], r["area"]) ==
              ("Region Halland", "2026-02", "completed", "first_visit"))
    assert (fv["share_within_limit"], fv["total"], fv["excluding_pvv"], fv["within_limit"], fv["pvv_long"],
            fv["response_rate"]) == (66.7, 22, 16, 10, 5, 66.7)
    c = api.get("/v1/national/statistics", params={"year": 2026, "as_of": today, "format": "csv"})
    assert c.headers["content-type"].startswith("text/csv") and "attachment" in c.headers["content-disposition"]
    assert c.content.startswith(b"\xef\xbb\xbf" + ";".join(HEAD_SV).encode())
    x = api.get("/v1/national/statistics", params={"year": 2026, "as_of": today, "format": "xlsx"})
    assert x.content[:2] == b"PK" and x.headers["content-disposition"].endswith('.xlsx"')
    bad = api.get("/v1/national/statistics", params={"year": 2026, "format": "pdf"})
    assert bad.status_code == 422 and "format" in bad.text


def test_statistics_from_aggregated_counts_have_no_pvv_split_and_the_region_as_its_unit(tmp_path, capsys):
    """counts_2026-04.csv (hand-written, no unit): first visits 18 of 20 within 30 days, 21 in total."""
    from classifier.national.statistics import statistics

    s = str(tmp_path / "c.duckdb")
    assert main(["national", "ingest", "--store", s, "--received", "2026-05-10T09:00",
                 str(DATA / "counts_2026-04.csv")]) == 0
    with Store(s) as store:
        rows = statistics(store, 2026, dt.date(2026, 5, 31))["rows"]
    fv = next(r for r in rows if (r["region"], r["month"], r["slot"], r["area"]) ==
              ("Region Gotland", "2026-04", "completed", "first_visit"))
    # published: 21 − 20 = 1 outside the denominator and 20 − 18 = 2 late are under 5, so the total, within 30 days
    # and the share are suppressed (the report's rule); the denominator 20 stays; counts carry no PVV split
    assert fv["suppressed"] == ["share_within_limit", "total", "within_limit"]
    assert (fv["denominator"], fv["excluding_pvv"], fv["pvv_long"]) == (20, None, None)
    assert (fv["units_reported"], fv["units_known"], fv["response_rate"]) == (1, 1, 100.0)
    march = next(r for r in rows if r["region"] == "Region Gotland" and r["month"] == "2026-03")
    assert (march["total"], march["response_rate"]) == (None, 0.0)  # not delivered: 0 of the region's 1 unit


def test_cli_statistics_refuses_an_unknown_format(tmp_path, capsys):
    s = str(tmp_path / "e.duckdb")
    assert main(["national", "statistics", "--store", s, "--year", "2026", "--out", str(tmp_path / "t.pdf")]) == 2
    assert "--format: expected csv, xlsx or json, got 'pdf'" in capsys.readouterr().err
    assert main(["national", "statistics", "--store", s, "--year", "2026", "--format", "xlsx"]) == 2
    assert "needs --out" in capsys.readouterr().err


def test_today_is_the_swedish_day_so_a_delivery_of_the_last_utc_hour_counts_as_of_today() -> None:
    # The as-of default was the machine's date (UTC): from 23:00 UTC in winter it was a day behind Sweden,
    # and a delivery received in that hour (already the next Swedish day) was shown as missing.
    from classifier.national.status import boundary, local_day, today

    late = dt.datetime(2026, 12, 5, 23, 13, tzinfo=dt.UTC)
    assert today(late) == dt.date(2026, 12, 6) == local_day("2026-12-05T23:13:00.000000Z")
    assert boundary(today(late)) > "2026-12-05T23:13:00.000000Z"
    assert today(dt.datetime(2026, 7, 1, 21, 59, tzinfo=dt.UTC)) == dt.date(2026, 7, 1)
    assert today(dt.datetime(2026, 7, 1, 22, 0, tzinfo=dt.UTC)) == dt.date(2026, 7, 2)
