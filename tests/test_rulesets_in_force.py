"""One rule set in force (issue 21, item 3; docs/rulesets.md): one variable and one flag name the
held sets, every endpoint and command takes each contact's set by its date from that one holding
and names every version and hash it used, and a month that crosses a `valid_from` counts each
month with its own set.

The second set is a copy of rules/ released as 2026.9, valid from 2026-03-01, with a 60-day limit
instead of 30: a 45-day wait is within the limit in March and not in February, so which set
counted a contact shows in the figures as well as in the names.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import auth
from classifier import cli, resources, ruleset, rulesets
from classifier.classify import default_classifier
from classifier.decisions import replay
from classifier.reporting import records
from classifier.ruleset import DEFAULT_RULES_DIR, RuleSetError

LATER = "2026.9"
FIRST = ruleset.load(DEFAULT_RULES_DIR).version

# An extract as a region's warehouse writes it (docs/month.md §1, tests/data), no injected defect:
# p1 waits 45 days for a first visit in February (2026-02-15), p2 45 days in March (2026-03-06)
# (39 days waited at February's end), p3 is still waiting at both month ends (18 days, then 49).
EXTRACT = (Path(__file__).parent / "data" / "two_rulesets_extract.csv").read_text(encoding="utf-8")

def _contact(day: str, received: str) -> dict[str, Any]:
    return {"contact": {"id": f"c-{day}", "date": day, "setting": "bup", "activity": "assessment",
                        "health_problem": "F41"},
            "care_request": {"received_date": received, "pathway": "A"}}


FEB, MAR = _contact("2026-02-15", "2026-01-01"), _contact("2026-03-06", "2026-01-20")


@pytest.fixture(scope="module")
def later(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """rules/ copied, valid from 2026-03-01 with a 60-day limit, released as 2026.9."""
    dest = tmp_path_factory.mktemp("later") / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, dest)
    top = dest / "ruleset.yaml"
    text = top.read_text(encoding="utf-8")
    assert 'valid_from: "2025-01-01"' in text and "limit_days: 30" in text
    top.write_text(text.replace('valid_from: "2025-01-01"', 'valid_from: "2026-03-01"')
                   .replace("limit_days: 30", "limit_days: 60"), encoding="utf-8")
    ruleset.release(dest, LATER)
    return dest


def _forget() -> None:
    rulesets.default_rulesets.cache_clear()  # type: ignore[attr-defined]
    records._wait_rules.cache_clear()


@pytest.fixture(scope="module")
def held(later: Path) -> Iterator[str]:
    """This process holds rules/ and the later set, as `--rules rules/ --rules LATER` says."""
    value = os.pathsep.join([str(DEFAULT_RULES_DIR), str(later)])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(resources.RULES_ENV, value)
        mp.delenv(resources.RETIRED_RULES_ENV, raising=False)
        mp.delenv(auth.ENV_VAR, raising=False)
        mp.delenv("BUP_DECISION_LOG", raising=False)
        _forget()
        try:
            yield value
        finally:
            _forget()
    _forget()


@pytest.fixture(scope="module")
def client(held: str) -> TestClient:
    from api.app import create_app

    return TestClient(create_app(), raise_server_exceptions=False)


def _versions(named: list[dict[str, Any]]) -> list[str]:
    return [r["version"] for r in named]


def _sha(version: str) -> str:
    return rulesets.default_rulesets().by_version[version].ruleset.sha256


def test_one_variable_names_the_held_sets_and_the_set_valid_today_comes_from_them(held: str) -> None:
    sets = rulesets.default_rulesets()
    assert list(sets.by_version) == [FIRST, LATER]
    assert default_classifier() is sets.default  # the one holding: no second "rule set in force"
    assert sets.for_date(date(2026, 2, 28)).ruleset.version == FIRST
    assert sets.for_date(date(2026, 3, 1)).ruleset.version == LATER


def test_the_retired_second_variable_is_refused_by_name(held: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(resources.RETIRED_RULES_ENV, str(DEFAULT_RULES_DIR))
    _forget()
    try:
        with pytest.raises(RuleSetError, match=r"BUP_RULES_DIRS is no longer read.*BUP_RULES_DIR"):
            rulesets.default_rulesets()
    finally:
        monkeypatch.delenv(resources.RETIRED_RULES_ENV)
        _forget()


def test_classify_batch_and_timeline_take_each_contact_by_its_date(client: TestClient,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bup_classifier.access"):
        feb, mar = (client.post("/v1/classify", json=x).json() for x in (FEB, MAR))
        batch = client.post("/v1/classify/batch", json={"items": [FEB, MAR]}).json()
        timeline = client.post("/v1/classify/timeline", json={"events": [
            {"type": "care_request", "date": "2026-01-01", "pathway": "A"},
            {"type": "contact", "contact": {**FEB["contact"], "activity": "assessment"}},
            {"type": "contact", "contact": {**MAR["contact"], "activity": "follow_up"}}]}).json()
    assert (feb["ruleset"]["version"], mar["ruleset"]["version"]) == (FIRST, LATER)
    assert (feb["ruleset"]["sha256"], mar["ruleset"]["sha256"]) == (_sha(FIRST), _sha(LATER))
    # the same 45 days: over the limit by the February set, within it by March's
    assert (feb["wait"]["days"], feb["wait"]["within_limit"]) == (45, False)
    assert (mar["wait"]["days"], mar["wait"]["within_limit"]) == (45, True)
    assert [r["ruleset"]["version"] for r in batch["results"]] == [FIRST, LATER]
    assert [r["ruleset"]["version"] for r in timeline["results"]] == [FIRST, LATER]
    lines = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("path", "").startswith("/v1/")]
    assert [x["ruleset_version"] for x in lines] == [FIRST, LATER, f"{FIRST}+{LATER}", f"{FIRST}+{LATER}"]
    assert lines[1]["ruleset_sha256"] == _sha(LATER)


def test_ruleset_endpoint_lists_the_same_sets(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="bup_classifier.access"):
        body = client.get("/v1/ruleset").json()
    assert [(r["version"], r["sha256"], r["valid_from"]) for r in body["rulesets"]] == [
        (FIRST, _sha(FIRST), "2025-01-01"), (LATER, _sha(LATER), "2026-03-01")]
    [line] = [r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg.get("path") == "/v1/ruleset"]
    assert line["ruleset_version"] == f"{FIRST}+{LATER}"  # classified nothing: the sets the service holds


def _month_figures(audit: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows = audit["regions"][0]["figures"]
    return {r["month"]: r["as_rules"] for r in rows if r["area"] == "first_visit"}


def test_the_month_across_valid_from_counts_each_month_with_its_own_set(client: TestClient) -> None:
    r = client.post("/v1/months", json={"month": "2026-02", "to": "2026-03", "csv": EXTRACT})
    assert r.status_code == 200, r.text
    audit = r.json()
    assert audit["totals"]["rejected_rows"] == 0
    assert [(x["version"], x["sha256"], x["contacts"]) for x in audit["rulesets"]] == [
        (FIRST, _sha(FIRST), 1), (LATER, _sha(LATER), 1)]
    assert audit["ruleset"]["version"] == LATER  # the set at the period's end
    fig = _month_figures(audit)
    # February: p1's 45 days over the 30-day limit; March: p2's 45 days within 60
    assert (fig["2026-02"]["numerator"], fig["2026-02"]["denominator"]) == (0, 1)
    assert (fig["2026-03"]["numerator"], fig["2026-03"]["denominator"]) == (1, 1)
    # at February's end p2 has waited 39 days (over 30) and p3 18; at March's end p3 49, within March's 60
    assert (fig["2026-02"]["waiting"], fig["2026-02"]["waiting_le30"]) == (2, 1)
    assert (fig["2026-03"]["waiting"], fig["2026-03"]["waiting_le30"]) == (1, 1)
    february = client.post("/v1/months", json={"month": "2026-02", "csv": EXTRACT}).json()
    assert _versions(february["rulesets"]) == [FIRST]
    assert _versions(client.post("/v1/months", json={"month": "2026-03", "csv": EXTRACT}).json()["rulesets"]) == [
        LATER]


def test_the_monthly_report_counts_each_months_waits_with_its_set(client: TestClient) -> None:
    waiting = [{"region": "Region Test", "unit": "BUP Test", "area": "first_visit", "month": m,
                "wait_start": "2026-01-15"} for m in ("2026-02", "2026-03")]  # 44 and 75 days
    waiting += [{"region": "Region Test", "unit": "BUP Test", "area": "first_visit", "month": "2026-03",
                 "wait_start": "2026-02-01"}]  # 58 days at March's end
    r = client.post("/v1/reports/monthly", json={"year": 2026, "shares": {"Region Test": 1}, "waiting": waiting})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(x["version"], x["sha256"]) for x in body["rulesets"]] == [(FIRST, _sha(FIRST)), (LATER, _sha(LATER))]
    found = {f["month"]: f for f in body["figures"] if f.get("level") == "region" and f["area"] == "first_visit"}
    assert (found["2026-02"]["waiting"], found["2026-02"]["waiting_le30"]) == (1, 0)
    assert (found["2026-03"]["waiting"], found["2026-03"]["waiting_le30"]) == (2, 1)


def test_impact_names_the_candidate_and_every_baseline_set(client: TestClient) -> None:
    r = client.post("/v1/impact", json={"candidate": LATER, "baseline": FIRST})
    assert r.status_code == 200, r.text
    named = r.json()["rulesets"]
    assert _versions(named["baseline"]) == [FIRST] and _versions(named["candidate"]) == [LATER]


def test_the_decision_log_records_each_contacts_set(held: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from api.app import create_app

    monkeypatch.setenv("BUP_DECISION_LOG", f"sqlite:///{tmp_path / 'd.db'}")
    with TestClient(create_app(), raise_server_exceptions=False) as logged:
        body = logged.post("/v1/classify/batch", json={"items": [FEB, MAR]}).json()
        rec = logged.get(f"/v1/decisions/{body['decision_id']}").json()
    assert [c["ruleset"]["version"] for c in rec["contacts"]] == [FIRST, LATER]


# -- the command line: --rules DIR, the one flag ----------------------------------------


@pytest.fixture
def flags(later: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """`--rules rules/ --rules LATER` on a process that holds nothing else."""
    monkeypatch.setenv(resources.RULES_ENV, "")  # recorded, so the value `--rules` sets is undone after
    monkeypatch.delenv(resources.RULES_ENV)
    _forget()
    try:
        yield ["--rules", str(DEFAULT_RULES_DIR), "--rules", str(later)]
    finally:
        _forget()


def test_cli_classify_and_month_name_the_sets_the_flag_holds(flags: list[str], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    requests = tmp_path / "requests.json"
    requests.write_text(json.dumps([FEB, MAR]), encoding="utf-8")
    assert cli.main(["classify", str(requests), *flags]) == 0
    assert [a["ruleset"]["version"] for a in json.loads(capsys.readouterr().out)] == [FIRST, LATER]
    extract = tmp_path / "extract.csv"
    extract.write_text(EXTRACT, encoding="utf-8")
    out = tmp_path / "out"
    assert cli.main(["month", "--extract", str(extract), "--month", "2026-02", "--to", "2026-03", "--out", str(out),
                     "--workers", "1", *flags]) == 0
    line = capsys.readouterr().out
    assert f"rule set {FIRST} (sha256 {_sha(FIRST)[:12]}…), {LATER} (sha256 {_sha(LATER)[:12]}…)" in line
    audit = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    assert _versions(audit["rulesets"]) == [FIRST, LATER]
    page = (out / "audit.html").read_text(encoding="utf-8")
    assert f"{FIRST} <span" in page and f"{LATER} <span" in page and "gäller från 2026-03-01" in page


def test_cli_report_names_the_sets_that_counted(flags: list[str], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    waiting = tmp_path / "waiting.csv"
    waiting.write_text("region,unit,area,month,wait_start\nRegion Test,BUP Test,first_visit,2026-03,2026-02-01\n",
                       encoding="utf-8")
    shares = tmp_path / "shares.csv"
    shares.write_text("region,share\nRegion Test,1\n", encoding="utf-8")
    assert cli.main(["report", "--year", "2026", "--waiting", str(waiting), "--shares", str(shares), "--json",
                     *flags]) == 0
    assert _versions(json.loads(capsys.readouterr().out)["rulesets"]) == [LATER]
    assert cli.main(["report", "--year", "2026", "--waiting", str(waiting), "--shares", str(shares), *flags]) == 0
    assert f"rule set(s) counting the waits: {LATER} (sha256 {_sha(LATER)[:12]}…)" in capsys.readouterr().out


def test_cli_impact_of_an_extract_takes_the_baseline_by_each_contacts_date(flags: list[str], tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    extract = tmp_path / "extract.csv"
    extract.write_text(EXTRACT, encoding="utf-8")
    assert cli.main(["impact", "--candidate", str(DEFAULT_RULES_DIR), "--extract", str(extract), "--month", "2026-02",
                     "--to", "2026-03", "--workers", "1", "--json", *flags]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [(x["version"], x["contacts"]) for x in result["rulesets"]["baseline"]] == [(FIRST, 1), (LATER, 1)]
    assert _versions(result["rulesets"]["candidate"]) == [FIRST]
    assert result["baseline"] == f"{FIRST}+{LATER}"
    assert (f"baseline {FIRST} (sha256 {_sha(FIRST)[:12]}…), {LATER} (sha256 {_sha(LATER)[:12]}…)  ->  "
            f"candidate {FIRST}") in replay.text(result)  # the terminal's report names them too
    # the candidate (the 30-day set) differs from the baseline only where the baseline used the 60-day set
    assert [(c["date"], c["before"]["in_numerator"], c["after"]["in_numerator"]) for c in result["changes"]] == [
        ("2026-03-06", True, False)]


def test_a_flag_naming_no_rule_set_fails_before_anything_runs(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["classify", "-", "--rules", str(tmp_path)]) == 2
    assert f"--rules {tmp_path}: no ruleset.yaml there" in capsys.readouterr().err
