"""The month (docs/month.md): a simulated region's extract through `classifier.month.run`.

The simulator's answer key says what the audit must find; the audit must find exactly
that (precision and recall 100 %) on several seeds.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import pytest

from classifier.month import run, simulate
from classifier.month.extract import ExtractError, to_row

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
    rejected = list(csv.DictReader((out / "rejected.csv").open(encoding="utf-8")))
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
    rejected = list(csv.DictReader((tmp_path / "out" / "rejected.csv").open(encoding="utf-8")))
    by_row = defaultdict(set)
    for r in rejected:
        by_row[int(r["row"])].add(r["column"])
    assert by_row == {3: {"activity", "urgent", "registered_contact_type"}, 4: {"region", "date"},
                      5: {"event_type"}}
    assert audit["totals"]["measurement_points"] == 1 and audit["totals"]["rejected_rows"] == 3


def test_an_unknown_column_fails_the_extract_by_name(tmp_path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("patient_ref,event_id,event_type,date,unit_name\n", encoding="utf-8")
    with pytest.raises(ExtractError, match="unit_name"):
        run([p], ["2026-03"], None, workers=1)


def test_publish_suppresses_cells_under_five(regions, tmp_path) -> None:
    path, key, _, _ = regions[1]
    audit = run([path], key["months"], tmp_path, workers=2, publish=True)
    counts = [f[v][k] for u in audit["units"] for f in u["figures"] for v in ("as_registered", "as_rules")
              for k in ("numerator", "denominator", "waiting")]
    assert None in counts and not any(isinstance(c, int) and 0 < c < 5 for c in counts)
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
    rejected = list(csv.DictReader((tmp_path / "out" / "rejected.csv").open(encoding="utf-8")))
    assert [(r["row"], r["column"]) for r in rejected] == [("2", column)]
    assert audit["totals"]["contacts_in_months"] == 0
    for f in (tmp_path / "out").rglob("*"):
        if f.is_file():
            assert pnr not in f.read_text(encoding="utf-8") and "20150312" not in f.read_text(encoding="utf-8"), f
