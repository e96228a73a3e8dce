"""Impact of a candidate rule set on a month's extract (`impact --extract`), checked against the
month layer's own answer: the month's audit and delivery under the released rules."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from classifier.cli import main

MONTHS = ["2026-03", "2026-04", "2026-05", "2026-06"]


def candidate_dir(rules_dir: Path, limit: int = 20, version: str = "2027.1-rc", valid_from: str | None = None) -> Path:
    """A copy of rules/ with a shorter wait limit: waits of limit+1..30 days leave the numerator."""
    path = rules_dir / "ruleset.yaml"
    text = path.read_text().replace("limit_days: 30", f"limit_days: {limit}")
    text = text.replace('version: "2026.2"', f'version: "{version}"')
    if valid_from:
        text = text.replace('valid_from: "2025-01-01"', f'valid_from: "{valid_from}"')
    path.write_text(text)
    return rules_dir


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("region")
    assert main(["simulate", "--patients", "80", "--seed", "3", "--out", str(d)]) == 0
    assert main(["month", "--extract", str(d / "extract.csv"), "--month", MONTHS[0], "--to", MONTHS[-1],
                 "--out", str(d / "out"), "--workers", "1"]) == 0
    return d


def impact_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["impact", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_changed_contacts_are_exactly_the_waits_between_the_two_limits(
        region: Path, rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cand = candidate_dir(rules_copy)
    result = impact_json(capsys, "--candidate", str(cand), "--extract", str(region / "extract.csv"),
                         "--month", MONTHS[0], "--to", MONTHS[-1])
    audit = json.loads((region / "out" / "audit.json").read_text(encoding="utf-8"))
    assert result["baseline"] == "2026.2" and result["candidate"] == "2027.1-rc" and result["months"] == MONTHS
    assert result["cases"] == audit["totals"]["patients"]
    assert result["contacts"] == audit["totals"]["contacts_in_months"]
    assert result["skipped"]["rejected_rows"] == audit["totals"]["rejected_rows"]
    # The month's delivery under the released rules: every measurement point with its wait in days.
    delivered = json.loads((region / "out" / "delivery" / "completed.json").read_text(encoding="utf-8"))
    expected = {d["VardkontaktId"] for d in delivered
                if d["Vantetid"] is not None and 20 < d["Vantetid"] <= 30 and d["Avvikelse"] is None}
    assert expected and {c["contact_id"] for c in result["changes"]} == expected
    assert result["changed_contacts"] == len(expected)
    ids = {row["event_id"]: row for row in csv.DictReader((region / "extract.csv").open(encoding="utf-8"))}
    for c in result["changes"]:
        row = ids[c["ref"]]  # the extract's event_id
        assert row["event_type"] == "contact" and row["date"] == c["date"] and row["unit"] == c["unit"]
        assert c["before"]["in_numerator"] is True and c["after"]["in_numerator"] is False
        assert c["before"]["contact_type"] == c["after"]["contact_type"]
    # Only the limit changed: the matrices are diagonal and hold every contact.
    assert all(set(row) == {before} for before, row in result["contact_types"].items())
    assert sum(n for row in result["contact_types"].values() for n in row.values()) == result["contacts"]


def test_shares_before_are_the_month_audit_s_and_the_drop_is_the_changes(
        region: Path, rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cand = candidate_dir(rules_copy)
    result = impact_json(capsys, "--candidate", str(cand), "--extract", str(region / "extract.csv"),
                         "--month", MONTHS[0], "--to", MONTHS[-1])
    audit = json.loads((region / "out" / "audit.json").read_text(encoding="utf-8"))
    figures = {(f["region"], f["area"], f["month"]): f for f in result["report"]["figures"] if f["level"] == "region"}
    compared = 0
    for reg in audit["regions"]:
        for f in reg["figures"]:
            mine = figures.get((reg["region"], f["area"], f["month"]))
            if f["as_rules"]["denominator"]:
                assert mine is not None
                assert mine["share_before"] == f["as_rules"]["share_within_30"]
                assert mine["denominator_before"] == mine["denominator_after"] == f["as_rules"]["denominator"]
                compared += 1
    assert compared >= 12
    lost = sum(f["numerator_before"] - f["numerator_after"] for f in figures.values())
    assert lost == result["changed_contacts"]
    assert {f["month"] for f in result["report"]["figures"]} <= set(MONTHS)
    # Money: each region 1/21 of the pots (as the month audit without a shares file); a shorter limit pays less.
    assert result["report"]["money_note"] == "no shares given: each region 1/21"
    money = {m["region"]: m for m in result["report"]["money"]}
    assert set(money) == {r["region"] for r in audit["regions"]}
    assert all(m["paid_msek_after"] <= m["paid_msek_before"] for m in money.values())
    assert any(m["months_that_change"] for m in money.values())


def test_two_files_and_the_default_months(region: Path, rules_copy: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    cand = candidate_dir(rules_copy)
    with (region / "extract.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    early, late = tmp_path / "early.csv", tmp_path / "late.jsonl"
    with early.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(r for r in rows if r["date"] < "2026-04-15")
    late.write_text("".join(json.dumps({k: v or None for k, v in r.items()}) + "\n"
                            for r in rows if r["date"] >= "2026-04-15"), encoding="utf-8")
    one = impact_json(capsys, "--candidate", str(cand), "--extract", str(region / "extract.csv"))
    two = impact_json(capsys, "--candidate", str(cand), "--extract", str(early), "--extract", str(late))
    days = sorted(r["date"] for r in rows)
    assert one["months"][0] == days[0][:7] and one["months"][-1] == days[-1][:7] and len(one["months"]) > 12
    for key in ("months", "contacts", "changed_contacts", "contact_types", "rules", "changes", "report"):
        assert one[key] == two[key], key
    assert two["source"] == "the extract early.csv, late.jsonl"


def test_the_page_and_the_text_name_the_event_ids(region: Path, rules_copy: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cand = candidate_dir(rules_copy)
    page = tmp_path / "impact.html"
    assert main(["impact", "--candidate", str(cand), "--extract", str(region / "extract.csv"), "--month", "2026-04",
                 "--html", str(page)]) == 0
    text = capsys.readouterr().out
    first = next(line for line in text.splitlines() if line.startswith("changed "))
    event_id = first.split()[1]
    assert event_id in page.read_text(encoding="utf-8")
    assert "patient(s)" in text and "numerator True -> False" in first


@pytest.mark.parametrize(("args", "message"), [
    (["--extract", "nowhere.csv"], "nowhere.csv: no such file"),
    (["--extract", "EXTRACT", "--month", "2026-13"], "--month '2026-13': expected a month as YYYY-MM"),
    (["--extract", "EXTRACT", "--month", "2026-05", "--to", "2026-04"], "--to 2026-04 is before --month 2026-05"),
    (["--extract", "EXTRACT", "--to", "2026-04"], "--month (and --to after it) go with --extract"),
    (["--examples", "--month", "2026-04"], "--month (and --to after it) go with --extract"),
    (["--extract", "EXTRACT", "--baseline", "1999"], "--baseline '1999': expected one of the loaded versions"),
])
def test_bad_options_are_named(region: Path, rules_copy: Path, capsys: pytest.CaptureFixture[str],
                               args: list[str], message: str) -> None:
    args = [str(region / "extract.csv") if a == "EXTRACT" else a for a in args]
    assert main(["impact", "--candidate", str(rules_copy), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
