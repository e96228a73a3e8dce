"""The month (docs/month.md): a simulated region's extract through `classifier.month.run`.

The simulator's answer key says what the audit must find; the audit must find exactly
that (precision and recall 100 %) on several seeds.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date as dt_date
from pathlib import Path

import pytest
import yaml

from classifier.month import run, simulate
from classifier.month.extract import ExtractError, to_row
from classifier.reporting.figures import COUNT_FIELDS

SEEDS = [1, 2, 3]
PATIENTS = 500


@pytest.fixture(scope="module")
def regions(tmp_path_factory) -> dict[int, tuple[Path, dict, dict, Path]]:
    out = {}
    for seed in SEEDS:
        d = tmp_path_factory.mktemp(f"region{seed}")
        rows, key = simulate.simulate(PATIENTS, seed)
        path = simulate.write(rows, key, d)
        audit = run([path], key["months"], d / "out", workers=2)
        out[seed] = (path, key, audit, d / "out")
    return out


def _found(audit: dict, out: Path) -> dict[str, set]:
    kinds: dict[str, set] = defaultdict(set)
    for f in audit["findings"]:
        if f["kind"] == "old_decision_without_follow_up":
            kinds[f["kind"]].add((f["event_ids"][0], f["month"]))
        elif f["kind"] == "event_after_care_closed":
            kinds[f["kind"]].add(tuple(sorted(f["event_ids"])))
        elif f["kind"] == "rejected_row":
            kinds[f["kind"]].add(f["row"])
        else:
            kinds[f["kind"]].update(f["event_ids"])
    with (out / "disagreements.csv").open(encoding="utf-8") as f:
        kinds["registration_errors"] = {r["event_id"] for r in csv.DictReader(f)}
    return kinds


@pytest.mark.parametrize("seed", SEEDS)
def test_the_audit_finds_exactly_what_was_injected(regions, seed) -> None:
    _, key, audit, out = regions[seed]
    found = _found(audit, out)
    expected = {
        "registration_errors": set(key["registration_errors"]),
        "contact_not_registered": set(key["contact_not_registered"]),
        "measurement_point_without_wait_start": set(key["measurement_point_without_wait_start"]),
        "event_after_care_closed": {tuple(p) for p in key["event_after_care_closed"]},
        "duplicate_id": set(key["duplicate_id"]),
        "old_decision_without_follow_up": {tuple(p) for p in key["old_decision_without_follow_up"]},
        "rejected_row": set(key["rejected_rows"]),
    }
    for kind, want in expected.items():
        assert want, f"seed {seed}: the simulator injected no {kind}; the test would prove nothing"
        assert found.get(kind, set()) == want, kind
    assert set(found) <= set(expected)


def _timelines(path: Path, classifier) -> dict[str, list[dict]]:
    """Each patient's readable rows as /v1/classify/timeline events, in date order then extract order."""
    by_patient: dict[str, list] = defaultdict(list)
    with path.open(encoding="utf-8") as f:
        for i, rec in enumerate(csv.DictReader(f), 1):
            rec = {k: (v or None) for k, v in rec.items()} | {"_row": i, "_file": 0}
            row = to_row(rec, classifier.ruleset, ["extract.csv"])
            if hasattr(row, "event"):
                by_patient[row.patient_ref].append(row)
    return {p: [r.event.model_dump(mode="json", exclude_none=True) for r in sorted(rows, key=lambda r: (
        r.event.date, r.row))] for p, rows in by_patient.items()}


def test_completed_equal_the_timeline_endpoint_patient_by_patient(regions, classifier) -> None:
    from tests.client import client

    path, key, _, out = regions[1]
    with (out / "delivery" / "completed.csv").open(encoding="utf-8") as f:
        delivered = {r["VardkontaktId"]: r for r in csv.DictReader(f)}
    dupes = set(key["duplicate_id"])
    expected = {}
    for events in _timelines(path, classifier).values():
        seen: set[str] = set()
        kept = []
        for e in events:  # the duplicate rows (rejected by the month layer) are left out here too
            cid = e["contact"]["id"] if e["type"] == "contact" else None
            if cid is None or cid not in seen:
                kept.append(e)
                seen.add(cid)
        events = kept
        response = client.post("/v1/classify/timeline", json={"events": events})
        assert response.status_code == 200, response.text
        for ans in response.json()["results"]:
            cid = ans["contact_id"]
            ev = next(e for e in events if e.get("contact", {}).get("id") == cid)
            if ans["measurement_point"] and key["months"][0] <= ev["contact"]["date"][:7] <= key["months"][-1]:
                expected[cid] = ans
    assert dupes  # duplicates were there and did not change the answer
    assert set(delivered) == set(expected)
    fas = {"first_visit": "1", "treatment": "2", "investigation": "3"}
    for cid, ans in expected.items():
        row = delivered[cid]
        assert row["Fas"] == fas[ans["contact_type"]]
        assert row["Vantetid"] == ("" if ans["wait"]["days"] is None else str(ans["wait"]["days"]))


def test_an_extract_split_in_two_months_gives_the_same_answers(regions, tmp_path) -> None:
    path, key, audit, out = regions[2]
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    a = [x for x in body if x.split(",")[3] < "2026-04-16"]
    b = [x for x in body if x.split(",")[3] >= "2026-04-16"]
    assert a and b
    (tmp_path / "march.csv").write_text(header + "# rows up to mid-April\n" + "".join(a), encoding="utf-8")
    (tmp_path / "april.csv").write_text(header + "".join(b), encoding="utf-8")
    split = run([tmp_path / "march.csv", tmp_path / "april.csv"], key["months"], tmp_path / "out", workers=1)
    for name in ("delivery/completed.csv", "delivery/waiting.csv", "disagreements.csv", "figures.csv"):
        assert sorted((tmp_path / "out" / name).read_text().splitlines()) == sorted(
            (out / name).read_text().splitlines()), name
    assert split["totals"] == audit["totals"]


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_parquet_and_json_lines_read_as_csv(regions, tmp_path, fmt) -> None:
    path, key, audit, out = regions[3]
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    if fmt == "parquet":
        p = simulate.write([{k: v or None for k, v in r.items()} for r in rows], key, tmp_path, "parquet")
    else:
        p = tmp_path / "extract.jsonl"
        p.write_text("".join(json.dumps({k: v for k, v in r.items() if v}) + "\n" for r in rows))
    other = run([p], key["months"], tmp_path / "out", workers=2)
    assert other["totals"] == audit["totals"]
    assert (tmp_path / "out" / "disagreements.csv").read_text() == (out / "disagreements.csv").read_text()


def test_identity_numbers_never_reach_an_output(regions) -> None:
    path, _key, _audit, out = regions[1]
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    from classifier.privacy import looks_like_identity_number

    bad = {v for r in rows for v in r.values() if v and looks_like_identity_number(v)}
    assert bad
    for f in out.rglob("*"):
        if f.is_file():
            text = f.read_text(encoding="utf-8")
            assert not any(b in text for b in bad), f
    rejected = _rejected(out)
    assert any("identity" in r["problem"] and r["column"] == "health_problem" for r in rejected)


def test_bad_cells_are_rejected_by_column_and_the_rest_is_processed(tmp_path) -> None:
    p = tmp_path / "x.csv"
    p.write_text(
        "patient_ref,event_id,event_type,date,region,unit,pathway,setting,activity,health_problem,urgent,"
        "registered_contact_type\n"
        "p1,e1,care_request,2026-03-01,R,U,A,,,,,\n"
        "p1,e2,contact,2026-03-10,R,U,,bup,assessment,F41,,first_visit\n"
        "p1,e3,contact,2026-03-11,R,U,,bup,surgery,F41,maybe,return\n"
        "p1,e4,contact,2026-02-30,,U,,bup,assessment,F41,,\n"
        "p1,e5,meeting,2026-03-12,R,U,,,,,,\n", encoding="utf-8")
    audit = run([p], ["2026-03"], tmp_path / "out", workers=1)
    rejected = _rejected(tmp_path / "out")
    by_row = defaultdict(set)
    for r in rejected:
        by_row[int(r["row"])].add(r["column"])
    # `return` is no contact type: a finding for its row (the audit), never a reason to drop it (row 3 has others)
    assert by_row == {3: {"activity", "urgent"}, 4: {"region", "date"}, 5: {"event_type"}}
    assert audit["totals"]["measurement_points"] == 1 and audit["totals"]["rejected_rows"] == 3


def test_an_unknown_column_fails_the_extract_by_name(tmp_path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("patient_ref,event_id,event_type,date,unit_name\n", encoding="utf-8")
    with pytest.raises(ExtractError, match="unit_name"):
        run([p], ["2026-03"], None, workers=1)


def test_publish_suppresses_cells_under_five(regions, tmp_path) -> None:
    path, key, _, _ = regions[1]
    audit = run([path], key["months"], tmp_path, workers=2, publish=True)
    rows = [f[v] for part in ("units", "regions") for u in audit[part] for f in u["figures"]
            for v in ("as_registered", "as_rules")]
    counts = [r[k] for r in rows for k in COUNT_FIELDS]  # every count, the direct starts beside the queue too
    assert None in counts and not any(isinstance(c, int) and 0 < c < 5 for c in counts)
    assert any(r["direct_starts"] is None for r in rows)
    assert all(c["count"] is None or c["count"] >= 5 for u in audit["units"] for c in u["matrix"])



SEPARATORS = ["", "-", "+", " ", ".", "/", "_", "\u2013", "\u00a0", " - ", "\u200b"]


@pytest.mark.parametrize("sep", SEPARATORS, ids=[f"U+{ord(s[0]):04X}x{len(s)}" if s else "none" for s in SEPARATORS])
@pytest.mark.parametrize("column", ["patient_ref", "unit", "contact_id", "health_problem", "region"])
def test_an_identity_number_with_any_separator_in_any_column_rejects_its_row(tmp_path, sep, column) -> None:
    """The extract's identity check is the service's: every separator privacy.py knows, in every column."""
    pnr = f"20150312{sep}1234"
    row = {"patient_ref": "p1", "event_id": "e2", "event_type": "contact", "date": "2026-03-10", "region": "R",
           "unit": "U", "pathway": "", "contact_id": "c2", "setting": "bup", "activity": "assessment",
           "health_problem": "F41", "registered_contact_type": "first_visit"}
    row[column] = f"x {pnr}"
    cols = list(row)
    p = tmp_path / "x.csv"
    with p.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        w.writerow(["p1", "e1", "care_request", "2026-03-01", "R", "U", "A", "", "", "", "", ""])
        w.writerow([row[c] for c in cols])
    audit = run([p], ["2026-03"], tmp_path / "out", workers=1)
    rejected = _rejected(tmp_path / "out")
    assert [(r["row"], r["column"]) for r in rejected] == [("2", column)]
    assert audit["totals"]["contacts_in_months"] == 0
    for f in (tmp_path / "out").rglob("*"):
        if f.is_file():
            assert pnr not in f.read_text(encoding="utf-8") and "20150312" not in f.read_text(encoding="utf-8"), f


# -- counting examples (docs/month.md §2; examples/month/counting/) ---------------------------------

COUNTING = sorted((Path(__file__).resolve().parent.parent / "examples" / "month" / "counting").glob("*.yml"))


@pytest.mark.parametrize("case", COUNTING, ids=[p.stem for p in COUNTING])
def test_counting_example(case: Path) -> None:
    """Each example's extract, run as `bup-classifier month` runs it, counts what its story says at each month end."""
    doc = yaml.safe_load(case.read_text(encoding="utf-8"))
    audit = run([case.parent / doc["extract"]], doc["months"], None, workers=1)
    assert audit["totals"]["rejected_rows"] == 0, audit["findings"]
    assert [r["region"] for r in audit["regions"]] in ([], ["Region Test"])  # none: nothing counted at all
    got = {(f["month"], f["area"]): f["as_rules"] for r in audit["regions"] for f in r["figures"]}
    for month, areas in doc["expect"].items():
        for area, figures in areas.items():
            actual = {k: got.get((month, area), {}).get(k, 0) for k in figures}
            assert actual == figures, (month, area)


def test_every_counting_rule_has_an_example_that_fires_it_and_one_that_misses_it() -> None:
    names = " ".join(p.stem for p in COUNTING)
    for pair in (("direct_start_ends", "day_after_the_month"), ("during_ongoing_care", "one_day_after_twelve"),
                 ("counts_in_one_month_only", "seen_in_the_month")):
        assert all(word in names for word in pair), pair


def test_direct_starts_stand_beside_the_queue_ratio() -> None:
    """The queue target's period counts the direct starts beside completed and new (docs/month.md §2)."""
    case = COUNTING[0]
    doc = yaml.safe_load(case.read_text(encoding="utf-8"))
    audit = run([case.parent / doc["extract"]], doc["months"], None, workers=1)
    (queue, _second) = audit["report"]["money"]["regions"][0]["queue"]
    assert (queue["direct_starts"], queue["completed"], queue["new_on_list"]) == (1, 0, 0)


# ---- every format a region writes (docs/month.md §1): one hand-written extract, examples/month/formats/ ----

FORMATS = Path(__file__).resolve().parent.parent / "examples" / "month" / "formats"
FORMAT_FILES = ["extract_comma.csv", "extract_excel_utf8.csv", "extract_windows1252.csv", "extract.jsonl",
                "extract.parquet", "extract.xlsx"]


def _outputs(out: Path) -> dict[str, bytes]:
    files = [*sorted(p for p in (out / "delivery").iterdir()), out / "audit.json", out / "figures.csv"]
    return {str(p.relative_to(out)): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def formats_out(tmp_path_factory) -> dict[str, tuple[dict, Path]]:
    d = tmp_path_factory.mktemp("formats")
    return {name: (run([FORMATS / name], ["2026-02", "2026-03"], d / name, workers=1), d / name)
            for name in FORMAT_FILES}


def test_the_clean_extract_is_read_without_a_rejected_row_in_every_format(formats_out) -> None:
    for name, (audit, out) in formats_out.items():
        assert audit["totals"]["rejected_rows"] == 0, (name, (out / "rejected.csv").read_text(encoding="utf-8"))
        assert audit["totals"]["patients"] == 5 and audit["totals"]["contacts_in_months"] == 8, name
        # every registration was read (the Swedish labels too): none is missing, none unknown
        kinds = {f["kind"] for f in audit["findings"]}
        assert not kinds & {"contact_not_registered", "unknown_registered_contact_type"}, (name, kinds)
        assert audit["totals"]["registered_compared"] == 8, name


@pytest.mark.parametrize("name", FORMAT_FILES[1:])
def test_every_format_gives_byte_identical_delivery_audit_and_figures(formats_out, name) -> None:
    first = _outputs(formats_out[FORMAT_FILES[0]][1])
    assert set(first) >= {"delivery/completed.csv", "delivery/waiting.json", "audit.json", "figures.csv"}
    assert _outputs(formats_out[name][1]) == first


def test_the_clean_extract_says_what_the_rules_say(formats_out) -> None:
    """Checked against the events as written by hand: the proof is not only that the formats agree."""
    _audit, out = formats_out[FORMAT_FILES[0]]
    with (out / "delivery" / "completed.csv").open(encoding="utf-8") as f:
        completed = {r["VardkontaktId"]: (r["Rapportmanad"], r["Fas"], r["Vantetid"]) for r in csv.DictReader(f)}
    assert completed == {"c-b2": ("2026-02", "1", "24"), "c-d2": ("2026-02", "1", "21"),
                         "c-a2": ("2026-03", "1", "28"), "c-b4": ("2026-03", "3", "18"),
                         "c-d4": ("2026-03", "2", "8"), "c-e2": ("2026-03", "1", "30")}
    with (out / "delivery" / "waiting.csv").open(encoding="utf-8") as f:
        waiting = {(r["Rapportmanad"], r["VardkontaktId"], r["Fas"]) for r in csv.DictReader(f)}
    assert ("2026-03", "c1", "1") in waiting and ("2026-03", "e3", "3") in waiting
    assert [(d["contact_id"], d["registered"], d["rules"]) for d in csv.DictReader(
        (out / "disagreements.csv").open(encoding="utf-8"))] == [("c-e2", "return_visit", "first_visit")]


# ---- reading as regions write it (docs/month.md §1), refusals and limits ----

HEADER = ("patient_ref,event_id,event_type,date,region,unit,pathway,D1,D2,D3,D4,D5,D6,D7,X1,contact_id,setting,"
          "activity,health_problem,urgent,kva_codes,registered_contact_type")


def _csv(path: Path, lines: list[str], header: str = HEADER) -> Path:
    path.write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def _rejected(out: Path) -> list[dict]:
    return list(csv.DictReader((out / "rejected.csv").open(encoding="utf-8")))


def test_booleans_in_every_spelling_and_lists_with_either_separator(tmp_path) -> None:
    p = _csv(tmp_path / "x.csv", [
        "p1,e1,care_request,2026-03-01,R,U,B,SANT,Ja,1,TRUE,sant,JA,True,FALSKT,,,,,,,",
        "p2,e2,care_request,2026-03-01,R,U,C,true,true,true,true,true,true,true,Nej,,,,,,,",
        "p1,e3,contact,2026-03-05,R,U,,,,,,,,,,c3,bup,investigation,F90,falskt,\"AU119,DU011\",",
        "p2,e4,contact,2026-03-06,R,U,,,,,,,,,,c4,bup,assessment,F41,0,AU119;DU011,",
        "p2,e5,contact,2026-03-07,R,U,,,,,,,,,,c5,bup,assessment,F41,kanske,,",
    ])
    audit = run([p], ["2026-03"], tmp_path / "out", workers=1)
    assert [(r["row"], r["column"]) for r in _rejected(tmp_path / "out")] == [("5", "urgent")]
    assert audit["totals"]["contacts_in_months"] == 2


def test_swedish_labels_are_registrations_and_an_unknown_one_is_a_finding_not_a_lost_contact(tmp_path) -> None:
    p = _csv(tmp_path / "x.csv", [
        "p1,e1,care_request,2026-03-01,R,U,A,,,,,,,,,,,,,,,",
        "p1,e2,contact,2026-03-05,R,U,,,,,,,,,,c2,bup,assessment,F41,,,Nybesök",
        "p1,e3,contact,2026-03-06,R,U,,,,,,,,,,c3,bup,follow_up,F41,,,ÅTERBESÖK",
        "p2,e4,care_request,2026-03-01,R,U,A,,,,,,,,,,,,,,,",
        "p2,e5,contact,2026-03-07,R,U,,,,,,,,,,c5,bup,assessment,F41,,,Första besök/nybesök",
        "p3,e6,care_request,2026-03-01,R,U,A,,,,,,,,,,,,,,,",
        "p3,e7,contact,2026-03-08,R,U,,,,,,,,,,c7,bup,assessment,F41,,,nybesk",
    ])
    audit = run([p], ["2026-03"], tmp_path / "out", workers=1)
    assert audit["totals"]["rejected_rows"] == 0
    assert audit["totals"]["registered_compared"] == 3 and audit["totals"]["disagreements"] == 0
    # the misspelt registration is a finding for its row; its contact still ends p3's wait
    (unknown,) = [f for f in audit["findings"] if f["kind"] == "unknown_registered_contact_type"]
    assert unknown["event_ids"] == ["e7"] and "nybesk" in unknown["detail"]
    assert audit["totals"]["measurement_points"] == 3 and audit["totals"]["waiting_at_month_end"] == 0


def test_nul_bytes_and_unbalanced_quotes_reject_their_row_and_column_and_later_rows_keep_their_numbers(tmp_path):
    p = _csv(tmp_path / "x.csv", [
        "p1,e1,care_request,2026-03-01,R,U,A,,,,,,,,,,,,,,,",
        "p1,e2,care_request,2026-03-02,R,U\x00x,A,,,,,,,,,,,,,,,",
        'p1,e3,care_request,2026-03-03,R,"U,A,,,,,,,,,,,,,,,',
        "p1,e4,care_request,2026-03-04,R,U,A,,,,,,,,",
        "p1,e5,care_request,2026-03-05,R,U,A,,,,,,,,,,,,,,,",
        "p1,e5b,care_request,2026-03-05,R,U,A,,,,,,,,,,,,,,,,",
        "p1,e6,contact,2026-03-06,R,U,,,,,,,,,,c6,bup,assessment,F41,maybe,,",
    ])
    run([p], ["2026-03"], tmp_path / "out", workers=1)
    got = [(r["row"], r["column"]) for r in _rejected(tmp_path / "out")]
    assert got == [("2", "unit"), ("3", "unit"), ("4", "row"), ("6", "row"), ("7", "urgent")]
    problems = {r["row"]: r["problem"] for r in _rejected(tmp_path / "out")}
    assert "NUL" in problems["2"] and "unbalanced quote" in problems["3"]


def test_a_duplicated_header_column_fails_the_file_naming_it_in_swedish_and_english(tmp_path) -> None:
    p = _csv(tmp_path / "x.csv", ["p1,e1,care_request,2026-03-01,U"], "patient_ref,event_id,event_type,date,unit,unit")
    with pytest.raises(ExtractError) as exc:
        run([p], ["2026-03"], None, workers=1)
    text = str(exc.value)
    assert "x.csv" in text and "'unit'" in text and "twice" in text and "två gånger" in text


def test_a_bare_carriage_return_in_the_header_fails_the_file_naming_the_line(tmp_path) -> None:
    # Found by schemathesis as a 500 on POST /v1/months: Python's csv module raises on a CR inside a line.
    p = tmp_path / "mac.csv"
    p.write_bytes(b"patient_ref,event_id,event_type,date\rp1,e1,care_request,2026-03-01\r")
    with pytest.raises(ExtractError) as exc:
        run([p], ["2026-03"], None, workers=1)
    text = str(exc.value)
    assert "mac.csv" in text and "line 1" in text and "carriage return" in text and "vagnretur" in text


def test_an_unknown_column_shaped_like_an_identity_number_is_not_echoed(tmp_path) -> None:
    p = _csv(tmp_path / "x.csv", [], "patient_ref,event_id,event_type,date,20120312-1234")
    with pytest.raises(ExtractError) as exc:
        run([p], ["2026-03"], None, workers=1)
    assert "1234" not in str(exc.value) and "okänd kolumn" in str(exc.value) and "unknown column" in str(exc.value)


def test_windows_1252_is_detected_and_encoding_can_be_said(tmp_path) -> None:
    from classifier.month.extract import Source

    src = FORMATS / "extract_windows1252.csv"
    auto = run([src], ["2026-03"], tmp_path / "auto", workers=1)
    said = run([Source(src, "windows-1252")], ["2026-03"], tmp_path / "said", workers=1)
    assert auto == said and auto["totals"]["rejected_rows"] == 0
    assert {u["unit"] for u in auto["units"]} == {"BUP Borås", "BUP Göteborg Öst, mottagning 2"}
    with pytest.raises(ExtractError) as exc:  # said wrong: the line is named, with what to do
        run([Source(src, "utf-8")], ["2026-03"], None, workers=1)
    assert "line 2" in str(exc.value) and "--encoding" in str(exc.value) and "rad 2" in str(exc.value)


def _parquet(path: Path, columns: dict) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path, compression="zstd")
    return path


def test_typed_parquet_timestamps_at_midnight_are_dates_and_a_time_of_day_rejects_the_cell(tmp_path) -> None:
    import datetime as dt

    import pyarrow as pa

    n = 3
    p = _parquet(tmp_path / "x.parquet", {
        "patient_ref": ["p1", "p2", "p3"], "event_id": ["e1", "e2", "e3"], "event_type": ["care_request"] * n,
        "date": pa.array([dt.datetime(2026, 3, 1), dt.datetime(2026, 3, 2, 10, 15), dt.datetime(2026, 3, 3)],
                         pa.timestamp("ms")),
        "region": pa.array(["R"] * n).dictionary_encode(), "unit": ["U"] * n, "pathway": ["A"] * n,
        "D1": pa.array([None, None, None], pa.bool_())})
    audit = run([p], ["2026-03"], tmp_path / "out", workers=1)
    rejected = _rejected(tmp_path / "out")
    assert [(r["row"], r["column"]) for r in rejected] == [("2", "date")]
    assert "10:15" in rejected[0]["problem"]
    assert audit["totals"]["waiting_at_month_end"] == 2


def test_identity_numbers_as_typed_numbers_are_refused_in_parquet_and_json_lines(tmp_path) -> None:
    import pyarrow as pa

    p = _parquet(tmp_path / "x.parquet", {
        "patient_ref": ["p1", "p2"], "event_id": pa.array([201203121234, 7], pa.int64()),
        "event_type": ["care_request"] * 2, "date": ["2026-03-01"] * 2, "region": ["R"] * 2, "unit": ["U"] * 2,
        "pathway": ["A"] * 2})
    j = tmp_path / "x.jsonl"
    j.write_text('{"patient_ref": "p1", "event_id": "e1", "event_type": "care_request", "date": "2026-03-01", '
                 '"region": "R", "unit": "U", "pathway": "A", "contact_id": 201203121234}\n', encoding="utf-8")
    for path, column in ((p, "event_id"), (j, "contact_id")):
        out = tmp_path / ("out" + path.suffix)
        run([path], ["2026-03"], out, workers=1)
        assert [(r["row"], r["column"]) for r in _rejected(out)] == [("1", column)]
        for f in out.rglob("*"):
            if f.is_file():
                assert "201203121234" not in f.read_text(encoding="utf-8"), f


def test_a_json_line_that_is_not_an_object_is_a_rejected_row(tmp_path) -> None:
    j = tmp_path / "x.jsonl"
    j.write_text('{"patient_ref": "p1", "event_id": "e1", "event_type": "care_request", "date": "2026-03-01", '
                 '"region": "R", "unit": "U", "pathway": "A", "D1": true, "kva_codes": ["AU119"]}\n'
                 '[1, 2]\n{"patient_ref": "p1", "event_id": "e2", "event_type": "care_closed", "date": "2026-03-09", '
                 '"unit": ["a"]}\n{not json\n', encoding="utf-8")
    run([j], ["2026-03"], tmp_path / "out", workers=1)
    assert [(r["row"], r["column"]) for r in _rejected(tmp_path / "out")] == [
        ("2", "row"), ("3", "unit"), ("4", "row")]


def test_the_parquet_bomb_of_issue_22_is_a_clear_error_not_a_memory_error(tmp_path, capsys) -> None:
    """2,000,000 rows of one patient with a 1,000-character unit, zstd: about 1.6 MB on disk."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from classifier.cli import main

    for n, unit_chars, said in ((2_000_000, 1_000, "at most 500"), (200_000, 400, "more than 20,000 rows")):
        def same(text: str, n: int = n) -> pa.DictionaryArray:  # one value n times, never materialised in writing
            return pa.DictionaryArray.from_arrays(pc.fill_null(pa.nulls(n, pa.int32()), 0), pa.array([text]))

        p = _parquet(tmp_path / f"bomb{unit_chars}.parquet", {
            "patient_ref": same("p1"), "event_id": pa.array(range(n)).cast(pa.string()),
            "event_type": same("care_closed"), "date": same("2026-03-01"), "unit": same("u" * unit_chars)})
        assert p.stat().st_size < 20_000_000
        code = main(["month", "--extract", str(p), "--month", "2026-03", "--out", str(tmp_path / "out"),
                     "--workers", "1"])
        err = capsys.readouterr().err
        assert code == 2 and said in err and "Traceback" not in err, err


def test_limits_are_checked_before_the_rows_are_kept(tmp_path, monkeypatch) -> None:
    from classifier.month import extract

    monkeypatch.setattr(extract, "LIMITS", extract.Limits(rows=3, cell_chars=12, line_bytes=200))
    p = _csv(tmp_path / "x.csv", ["p1,e1,care_closed,2026-03-01,R,U,,,,,,,,,,,,,,,,"] * 4)
    with pytest.raises(ExtractError, match="more than 3 rows"):
        run([p], ["2026-03"], None, workers=1)
    p = _csv(tmp_path / "y.csv", ["p1,e1,care_closed,2026-03-01,Region Långnamn,U,,,,,,,,,,,,,,,,"])
    run([p], ["2026-03"], tmp_path / "out", workers=1)
    assert [(r["column"], r["problem"]) for r in _rejected(tmp_path / "out")] == [
        ("region", "15 characters; at most 12 in a cell (value not copied)")]
    p = _csv(tmp_path / "z.csv", ["p1,e1,care_closed,2026-03-01,R," + "U" * 300])
    with pytest.raises(ExtractError, match="line 2"):
        run([p], ["2026-03"], None, workers=1)


def test_cells_that_start_a_formula_after_blanks_are_neutralised_in_every_csv_the_month_writes(tmp_path) -> None:
    from classifier.reporting.csvsafe import BLANKS, FORMULA_START

    units = [" =HYPERLINK(1)", "\t@SUM(A1)", " -2+3", "+1"]
    lines = ["p0,e0,care_request,2026-03-01,R,U,A,,,,,,,,,,,,,,,"]
    for i, unit in enumerate(units, 1):
        lines += [f"p{i},e{i}a,care_request,2026-03-01,R,\"{unit}\",A,,,,,,,,,,,,,,,",
                  f"p{i},e{i}b,contact,2026-03-02,R,\"{unit}\",,,,,,,,,,c{i},bup,assessment,F41,,,return_visit"]
    run([_csv(tmp_path / "x.csv", lines)], ["2026-03"], tmp_path / "out", workers=1)
    seen = set()
    for f in (tmp_path / "out").rglob("*.csv"):
        for row in csv.reader(f.open(encoding="utf-8", newline="")):
            for cell in row:
                assert not cell.lstrip(BLANKS).startswith(FORMULA_START) or cell.startswith("'") or cell in (
                    "-", "+") or cell.lstrip("+-").replace(".", "").isdigit(), (f.name, cell)
                seen.add(cell)
    assert {"' =HYPERLINK(1)", "'\t@SUM(A1)", "' -2+3"} <= seen


@pytest.mark.parametrize("spelling", ["２０１２０３１２－１２３４", "20120312\u00ad1234", "٢٠١٢٠٣١٢-١٢٣٤",
                                      "2012 03 12 12 34", "20120312%2D1234"])
def test_every_cell_the_identity_detector_may_refuse_reaches_it(tmp_path, monkeypatch, spelling) -> None:
    """The reader's sieve passes on every spelling privacy's normalising detector reads (other digits,
    format characters, runs of separators, percent-encoding): here a detector that normalises so."""
    import re
    import unicodedata
    from urllib.parse import unquote

    from classifier.month import extract

    def detector(value: str) -> bool:
        text = "".join(str(unicodedata.decimal(c, c)) for c in unicodedata.normalize("NFKC", unquote(value))
                       if unicodedata.category(c) != "Cf")
        return re.search(r"(?<!\d)(?:\d{6}|\d{8})[\s\-]*\d{4}(?!\d)", re.sub(r"(?<=\d)[\s\-]+(?=\d)", "", text)) \
            is not None

    monkeypatch.setattr(extract, "looks_like_identity_number", detector)
    p = _csv(tmp_path / "x.csv", ["p1,e1,care_request,2026-03-01,Region Söder – Syd,BUP Malmö,A,,,,,,,,,,,,,,,",
                                  f"p1,e2,care_request,2026-03-02,R,U,A,,,,,,,,,,,,F{spelling},,,"])
    run([p], ["2026-03"], tmp_path / "out", workers=1)
    assert [(r["row"], r["column"]) for r in _rejected(tmp_path / "out")] == [("2", "health_problem")]
    for f in (tmp_path / "out").rglob("*"):
        if f.is_file():
            assert spelling not in f.read_text(encoding="utf-8"), f


def test_columns_without_a_name_must_stay_empty(tmp_path) -> None:
    """Excel writes `a;b;;;` when cells beside the table were touched: read, and a value there is a problem."""
    p = tmp_path / "x.csv"
    p.write_bytes("patient_ref;event_id;event_type;date;region;unit;pathway;;\r\n"
                  "p1;e1;care_request;2026-03-01;Region Västra Götaland;BUP Borås;A;;\r\n"
                  "p2;e2;care_request;2026-03-01;R;U;A;;x\r\n".encode("cp1252"))
    audit = run([p], ["2026-03"], tmp_path / "out", workers=1)
    assert [(r["row"], r["column"]) for r in _rejected(tmp_path / "out")] == [("2", "cell 9")]
    assert audit["totals"]["waiting_at_month_end"] == 1 and audit["units"][0]["unit"] == "BUP Borås"


def test_an_xlsx_is_measured_by_its_zip_directory_before_it_is_unpacked(tmp_path, monkeypatch) -> None:
    from classifier.month import extract

    monkeypatch.setattr(extract, "LIMITS", extract.Limits(xlsx_bytes=10_000))
    with pytest.raises(ExtractError) as exc:
        run([FORMATS / "extract.xlsx"], ["2026-03"], None, workers=1)
    assert "unpacks to" in str(exc.value) and "packas upp" in str(exc.value)
    (tmp_path / "x.xlsx").write_bytes(b"PK not really a workbook")
    with pytest.raises(ExtractError, match=r"not an \.xlsx workbook"):
        run([tmp_path / "x.xlsx"], ["2026-03"], None, workers=1)


def test_a_parquet_file_is_measured_by_its_metadata_before_a_row_is_read(tmp_path, monkeypatch) -> None:
    from classifier.month import extract

    monkeypatch.setattr(extract, "LIMITS", extract.Limits(rows=10, row_group_bytes=1_000_000))
    with pytest.raises(ExtractError, match="17 rows; at most 10"):
        run([FORMATS / "extract.parquet"], ["2026-03"], None, workers=1)
    monkeypatch.setattr(extract, "LIMITS", extract.Limits(row_group_bytes=100))
    with pytest.raises(ExtractError, match="uncompressed"):
        run([FORMATS / "extract.parquet"], ["2026-03"], None, workers=1)
    (tmp_path / "x.parquet").write_bytes(b"PAR1" + b"\0" * 20 + (10**9).to_bytes(4, "little") + b"PAR1")
    with pytest.raises(ExtractError, match="metadata"):
        run([tmp_path / "x.parquet"], ["2026-03"], None, workers=1)


def test_the_readers_need_no_package_outside_the_base_install(tmp_path) -> None:
    """numpy comes only with the report extra (matplotlib): the month must read every format without it."""
    import subprocess
    import sys

    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('numpy', 'pandas'): raise ImportError(name + ' blocked')\n"
            "sys.meta_path.insert(0, Block())\n"
            "from pathlib import Path\n"
            "from classifier.month import run\n"
            f"for name in {FORMAT_FILES!r}:\n"
            f"    a = run([Path({str(FORMATS)!r}) / name], ['2026-03'], None, workers=1)\n"
            "    assert a['totals']['rejected_rows'] == 0 and a['totals']['patients'] == 5, name\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def test_parquet_lists_of_any_text_encoding_and_a_list_elsewhere_fails_naming_the_column(tmp_path) -> None:
    import pyarrow as pa

    base = {"patient_ref": ["p1", "p1"], "event_id": ["e1", "e2"], "event_type": ["care_request", "contact"],
            "date": pa.array([dt_date(2026, 3, 1), dt_date(2026, 3, 2)], pa.date64()), "region": ["R", "R"],
            "unit": ["U", "U"], "pathway": ["A", None], "contact_id": [None, "c2"], "setting": [None, "bup"],
            "activity": [None, "assessment"], "health_problem": [None, "F41"]}
    codes = pa.LargeListArray.from_arrays(pa.array([0, 0, 2], pa.int64()), pa.array(["AU119", "DU011"])
                                          .dictionary_encode())
    p = _parquet(tmp_path / "x.parquet", base | {"kva_codes": codes})
    audit = run([p], ["2026-03"], tmp_path / "out", workers=1)
    assert audit["totals"]["rejected_rows"] == 0 and audit["totals"]["measurement_points"] == 1
    p = _parquet(tmp_path / "y.parquet", base | {"unit": pa.array([["U"], ["U"]])})
    with pytest.raises(ExtractError) as exc:
        run([p], ["2026-03"], None, workers=1)
    assert "'unit'" in str(exc.value) and "lists are accepted only in" in str(exc.value)


def _all_files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_every_file_is_the_same_for_one_worker_and_several(tmp_path) -> None:
    """The number of fold workers (and so of buckets, and the order they come back in) changes no byte:
    audit.json's findings per unit came in the buckets' order (issue 25)."""
    rows, key = simulate.simulate(3_000, 11)  # enough buckets for the pool to return them out of order
    extracts = [(Path(__file__).parent.parent / "examples" / "month" / "extract.csv",
                 ["2025-10", "2025-11", "2025-12", "2026-01", "2026-02", "2026-03"]),
                (simulate.write(rows, key, tmp_path / "region"), key["months"])]
    for i, (extract, months) in enumerate(extracts):
        run([extract], months, tmp_path / f"{i}-one", workers=1)
        one = _all_files(tmp_path / f"{i}-one")
        for workers in (2, 3):
            run([extract], months, tmp_path / f"{i}-w{workers}", workers=workers)
            several = _all_files(tmp_path / f"{i}-w{workers}")
            assert set(several) == set(one) and len(one) >= 9
            assert [name for name in one if one[name] != several[name]] == [], (extract.name, workers)


def test_a_key_twice_in_one_json_line_rejects_the_row_naming_line_and_key(tmp_path) -> None:
    """orjson keeps the last of two equal keys: a line {"patient_ref": "a", "patient_ref": "b"} was read as
    patient b without a word. The line is rejected, naming the key; the lines around it are read."""
    j = tmp_path / "x.jsonl"
    j.write_text(
        '{"patient_ref": "p1", "event_id": "e1", "event_type": "care_request", "date": "2026-03-01", '
        '"region": "R", "unit": "U", "pathway": "A"}\n'
        '{"patient_ref": "p1", "event_id": "e2", "event_type": "care_closed", "date": "2026-03-05", '
        '"patient_ref": "p2"}\n'
        '{"patient_ref": "p1", "event_id": "e3", "event_type": "care_closed", "date": "2026-03-09", '
        '"unit": "U", "unit"  :  "V", "region": "R:1"}\n'
        '{"patient_ref": "p1", "event_id": "e4", "event_type": "care_closed", "date": "2026-03-19", '
        '"region": "a:b", "unit": "x:y"}\n', encoding="utf-8")
    audit = run([j], ["2026-03"], tmp_path / "out", workers=1)
    rejected = _rejected(tmp_path / "out")
    assert [(r["row"], r["column"]) for r in rejected] == [("2", "patient_ref"), ("3", "unit")]
    assert all("twice" in r["problem"] and "expected" in r["problem"] for r in rejected), rejected
    assert audit["totals"]["patients"] == 1 and audit["totals"]["rejected_rows"] == 2
