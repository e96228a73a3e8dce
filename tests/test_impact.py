"""Impact of a candidate rule set on a month's extract (`impact --extract`), checked against the
month layer's own answer: the month's audit and delivery under the released rules."""

from __future__ import annotations

import csv
import json
import os
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api import auth
from classifier import examples as library
from classifier import rulesets
from classifier.cli import main
from classifier.ruleset import DEFAULT_RULES_DIR
from classifier.ruleset import load as load_ruleset
from tests.server import ROOT, running_server
from tests.test_auth import app_with, bearer
from tests.test_workbench import AXE, CHROMIUM, CHROMIUM_ARGS

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

MONTHS = ["2026-03", "2026-04", "2026-05", "2026-06"]
AREAS_SV = {"first_visit": "Första besök", "investigation": "Utredning", "treatment": "Behandling"}
ARTIFACTS = Path(os.environ.get("BUP_ARTIFACTS", ROOT / "test-artifacts")) / "impact"


def candidate_dir(rules_dir: Path, limit: int = 20, version: str = "2027.1-rc", valid_from: str | None = None) -> Path:
    """A copy of rules/ with a shorter wait limit: waits of limit+1..30 days leave the numerator."""
    path = rules_dir / "ruleset.yaml"
    text = path.read_text().replace("limit_days: 30", f"limit_days: {limit}")
    text = text.replace('version: "2026.3"', f'version: "{version}"')
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


def impact_of_the_months(region: Path, rules_copy: Path,
                         capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """`impact --extract` of the region's months under the candidate, and the month's own audit of them."""
    result = impact_json(capsys, "--candidate", str(candidate_dir(rules_copy)), "--extract",
                         str(region / "extract.csv"), "--month", MONTHS[0], "--to", MONTHS[-1])
    return result, json.loads((region / "out" / "audit.json").read_text(encoding="utf-8"))


def test_the_changed_contacts_are_exactly_the_waits_between_the_two_limits(
        region: Path, rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result, audit = impact_of_the_months(region, rules_copy, capsys)
    assert result["baseline"] == "2026.3" and result["candidate"] == "2027.1-rc" and result["months"] == MONTHS
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
    result, audit = impact_of_the_months(region, rules_copy, capsys)
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


def test_two_files_one_or_two_processes_and_the_default_months(region: Path, rules_copy: Path, tmp_path: Path,
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
    one = impact_json(capsys, "--candidate", str(cand), "--extract", str(region / "extract.csv"), "--workers", "2")
    two = impact_json(capsys, "--candidate", str(cand), "--extract", str(early), "--extract", str(late),
                      "--workers", "1")
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
    html = page.read_text(encoding="utf-8")
    assert event_id in html and f"<td>{first.split()[2]} " in html  # the event id with its date
    assert "patient(s)" in text and "numerator True -> False" in first


@pytest.mark.parametrize(("args", "message"), [
    (["--extract", "nowhere.csv"], "nowhere.csv: no such file"),
    (["--extract", "EXTRACT", "--month", "2026-13"], "--month '2026-13': expected a month as YYYY-MM"),
    (["--extract", "EXTRACT", "--month", "2026-05", "--to", "2026-04"], "--to 2026-04 is before --month 2026-05"),
    (["--extract", "EXTRACT", "--to", "2026-04"], "--month (and --to after it) and --workers go with --extract"),
    (["--examples", "--month", "2026-04"], "--month (and --to after it) and --workers go with --extract"),
    (["--extract", "EXTRACT", "--workers", "0"], "--workers: expected 1 or more processes"),
    (["--examples", "--workers", "2"], "--workers go with --extract"),
    (["--extract", "EXTRACT", "--region", "Region Väst"], "--region goes with --from-log or --examples"),
    (["--examples", "--shares", "nowhere.csv"], "--shares nowhere.csv:"),
    (["--extract", "EXTRACT", "--baseline", "1999"], "--baseline '1999': expected one of the loaded versions"),
])
def test_bad_options_are_named(region: Path, rules_copy: Path, capsys: pytest.CaptureFixture[str],
                               args: list[str], message: str) -> None:
    args = [str(region / "extract.csv") if a == "EXTRACT" else a for a in args]
    assert main(["impact", "--candidate", str(rules_copy), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# -- POST /v1/impact -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def candidate_2027(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The candidate beside the released set: valid from 2027, so every example keeps its 2026 baseline."""
    dest = tmp_path_factory.mktemp("cand") / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, dest)
    return candidate_dir(dest, valid_from="2027-01-01")


@pytest.fixture(scope="module")
def service(candidate_2027: Path) -> Iterator[TestClient]:
    """The app holding rules/ and the candidate, as `serve --rules rules/ --rules CANDIDATE` does."""
    from api.app import create_app

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BUP_RULES_DIR", os.pathsep.join([str(DEFAULT_RULES_DIR), str(candidate_2027)]))
        mp.delenv(auth.ENV_VAR, raising=False)
        rulesets.default_rulesets.cache_clear()
        try:
            yield TestClient(create_app(), raise_server_exceptions=False)
        finally:
            rulesets.default_rulesets.cache_clear()


def test_the_endpoint_answers_what_the_command_prints(service: TestClient, candidate_2027: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    held = [s["version"] for s in service.get("/v1/ruleset").json()["rulesets"]]
    assert held == ["2026.3", "2027.1-rc"]
    r = service.post("/v1/impact", json={"candidate": "2027.1-rc"})
    assert r.status_code == 200, r.text
    got = r.json()
    cli = impact_json(capsys, "--candidate", str(candidate_2027), "--examples", "--baseline", "2026.3")
    assert got == cli
    assert got["baseline"] == "2026.3" and got["candidate"] == "2027.1-rc" and got["source"] == "the example library"
    assert got["changed_contacts"] > 0 and got["changed_contacts"] == len(got["changes"])
    names = {ex.name for ex in library.load()}
    assert all(c["ref"] in names for c in got["changes"])
    assert all(c["before"]["in_numerator"] and not c["after"]["in_numerator"] for c in got["changes"])
    moved = [f for f in got["report"]["figures"] if f["share_before"] != f["share_after"]]
    assert moved and all(f["share_after"] < f["share_before"] for f in moved)
    assert service.post("/v1/impact", json={"candidate": "2027.1-rc", "max_changes": 2}).json()["changes"] == \
        got["changes"][:2]
    shares = service.post("/v1/impact", json={"candidate": "2027.1-rc", "region": "Region Väst",
                                              "shares": {"Region Väst": 0.2}}).json()
    assert shares["report"]["money"][0]["region"] == "Region Väst"
    assert shares["report"]["money_note"] == "from the shares given"


@pytest.mark.parametrize(("body", "path", "sv"), [
    ({"candidate": "2099.9"}, "candidate", "ska vara en av de inlästa regelversionerna"),
    ({}, "candidate", "obligatoriskt fält saknas"),
    ({"candidate": "2027.1-rc", "baseline": "2027.1-rc"}, "baseline", "ska vara en annan inläst version"),
    ({"candidate": "2027.1-rc", "baseline": "1999"}, "baseline", "ska vara en annan inläst version"),
    ({"candidate": "2027.1-rc", "source": "log"}, "source", "ska vara ett av"),
    ({"candidate": "2027.1-rc", "shares": {"R": 2}}, "shares.R", "ska vara en andel mellan 0 och 1"),
    ({"candidate": "2027.1-rc", "max_changes": -1}, "max_changes", "ska vara minst 0"),
    ({"candidate": "2027.1-rc", "colour": "red"}, "colour", "okänt fält"),
    ([], "$", "ska vara ett JSON-objekt"),
])
def test_bad_fields_are_named_in_swedish_too(service: TestClient, body: Any, path: str, sv: str) -> None:
    r = service.post("/v1/impact", json=body)
    assert r.status_code == 422, r.text
    first = r.json()["errors"][0]
    assert first["path"] == path and first["message_sv"].startswith(sv), first
    assert r.json()["request_id"]


def test_a_service_with_one_rule_set_says_what_to_load() -> None:
    from tests.client import client

    r = client.post("/v1/impact", json={"candidate": "2026.3"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "candidate"
    assert "serve --rules" in r.json()["errors"][0]["message"]


def test_only_the_audit_role_runs_impact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "auth.yaml"
    keys = {name: auth.add_key(path, name, roles)
            for name, roles in (("journal-a", ["classify"]), ("auditor", ["audit"]), ("boss", ["admin"]))}
    client = app_with(path, monkeypatch)
    body = {"candidate": "2099.9"}
    assert client.post("/v1/impact", json=body).status_code == 401
    r = client.post("/v1/impact", json=body, headers=bearer(keys["journal-a"]))
    assert r.status_code == 403 and "impact" not in r.text.lower() and "decision" not in r.text.lower()
    for name in ("auditor", "boss"):  # past the guard: the endpoint names the field
        r = client.post("/v1/impact", json=body, headers=bearer(keys[name]))
        assert r.status_code == 422 and r.json()["errors"][0]["path"] == "candidate"
    # the page is the workbench's (no data in it); its data needs audit
    assert client.get("/workbench/impact", headers=bearer(keys["journal-a"])).status_code == 200


# -- the workbench page, in Chromium ------------------------------------------------------------


@pytest.mark.slow
def test_the_workbench_shows_the_impact_on_the_example_library(candidate_2027: Path, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from playwright.sync_api import sync_playwright

    expected = impact_json(capsys, "--candidate", str(candidate_2027), "--examples", "--baseline", "2026.3")
    moved = [f for f in expected["report"]["figures"]
             if f["level"] == "region" and f["share_before"] != f["share_after"]]
    assert expected["changed_contacts"] > 0 and moved
    args = ["--rules", str(DEFAULT_RULES_DIR), "--rules", str(candidate_2027)]
    with running_server(tmp_path / "server.log", args=args) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        page.goto(base + "/")
        page.click("#impact-link")
        page.wait_for_url("**/workbench/impact")
        page.wait_for_selector("body[data-ready=true]")
        assert page.locator("#candidate").input_value() == "2027.1-rc"
        assert "2 regelversioner" in page.locator("#held").inner_text()
        tabbed = []
        for _ in range(4):  # the back link, the two choices and the button: the comparison runs by keyboard
            page.keyboard.press("Tab")
            tabbed.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
        assert tabbed == ["A", "candidate", "baseline", "run"]
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") not in ("none", "")
        page.keyboard.press("Enter")
        page.wait_for_selector("#summary")
        page.wait_for_selector('[aria-busy="true"]', state="detached")
        summary = page.locator("#summary").inner_text()
        assert f"{expected['contacts']} kontakter, {expected['changed_contacts']} ändrade" in summary
        assert "2026.3 → 2027.1-rc" in summary
        assert page.locator("#changes tr").count() == len(expected["changes"]) + 1
        first = moved[0]
        row = page.locator("#shares tr", has_text=first["month"]).filter(has_text=AREAS_SV[first["area"]]).first
        share = f"{first['share_after']:.1f}".replace(".", ",") + " %"
        assert share in row.inner_text()
        n = expected["contact_types"]["first_visit"]["first_visit"]
        first_visit = load_ruleset(DEFAULT_RULES_DIR).tables["contact_types"]["contact_types"]["first_visit"]
        row = page.locator(f'#types tr:has(th[scope=row]:text-is("{first_visit["label_sv"]}")) td.same')
        assert row.inner_text() == str(n)  # the contact type in the table's own words
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "impact.png"), full_page=True)
        assert AXE.exists(), "make axe installs axe-core (npm) into .venv/node"
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        bad = [(v["id"], v["impact"], len(v["nodes"])) for v in result["violations"]
               if v["impact"] in ("serious", "critical")]
        assert bad == []
        browser.close()
    assert errors == []


def test_a_duplicated_event_id_is_rejected_as_the_month_rejects_it(region: Path, rules_copy: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from classifier.month import run

    lines = (region / "extract.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    contact = next(line for line in lines if ",contact,2026-04-" in line)
    path = tmp_path / "with_duplicate.csv"
    path.write_text("".join(lines) + contact, encoding="utf-8")  # the same event_id twice
    audit = run([path], MONTHS, None, workers=1)
    result = impact_json(capsys, "--candidate", str(candidate_dir(rules_copy)), "--extract", str(path),
                         "--month", MONTHS[0], "--to", MONTHS[-1], "--workers", "1")
    before = json.loads((region / "out" / "audit.json").read_text(encoding="utf-8"))
    assert audit["finding_counts"]["duplicate_id"] == before["finding_counts"].get("duplicate_id", 0) + 1
    assert result["skipped"]["rejected_rows"] == audit["totals"]["rejected_rows"]
    assert result["contacts"] == audit["totals"]["contacts_in_months"] == before["totals"]["contacts_in_months"]
    plain = impact_json(capsys, "--candidate", str(rules_copy), "--extract", str(region / "extract.csv"),
                        "--month", MONTHS[0], "--to", MONTHS[-1], "--workers", "1")
    assert result["changes"] == plain["changes"] and result["report"] == plain["report"]
