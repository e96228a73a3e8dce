"""The month's command, endpoint, files and pages: CLI, POST /v1/months, audit.html and the upload page in Chromium."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from classifier.cli import main
from classifier.month import simulate
from classifier.month.outputs import DELIVERY_MAP
from classifier.privacy import looks_like_identity_number
from tests.client import client
from tests.server import ROOT, running_server
from tests.test_workbench import CHROMIUM, CHROMIUM_ARGS

ARTIFACTS = ROOT / "test-artifacts" / "month"


@pytest.fixture(scope="module")
def region(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("region")
    assert main(["simulate", "--patients", "150", "--seed", "5", "--out", str(d)]) == 0
    return d


@pytest.fixture(scope="module")
def month_out(region: Path) -> Path:
    assert main(["month", "--extract", str(region / "extract.csv"), "--month", "2026-03", "--to", "2026-06",
                 "--out", str(region / "out"), "--workers", "2"]) == 0
    return region / "out"


def test_the_command_writes_every_file_of_month_md_4(month_out: Path) -> None:
    for name in ("delivery/completed.csv", "delivery/completed.json", "delivery/waiting.csv", "delivery/waiting.json",
                 "audit.html", "audit.json", "figures.csv", "disagreements.csv", "rejected.csv"):
        assert (month_out / name).stat().st_size > 0, name
    with (month_out / "delivery" / "completed.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows and list(rows[0]) == list(DELIVERY_MAP["completed"])
    assert {r["Fas"] for r in rows} == {"1", "2", "3"}
    audit = json.loads((month_out / "audit.json").read_text(encoding="utf-8"))
    assert audit["totals"]["measurement_points"] == len(rows)
    waiting = json.loads((month_out / "delivery" / "waiting.json").read_text(encoding="utf-8"))
    assert len(waiting) == audit["totals"]["waiting_at_month_end"]


def test_the_report_gets_the_month_s_completed_and_waiting(month_out: Path) -> None:
    """docs/month.md §2: the figures are the report's own, fed with the month's records (no waiting list needed)."""
    audit = json.loads((month_out / "audit.json").read_text(encoding="utf-8"))
    completed = json.loads((month_out / "delivery" / "completed.json").read_text(encoding="utf-8"))
    waiting = json.loads((month_out / "delivery" / "waiting.json").read_text(encoding="utf-8"))
    nation = {(f["area"], f["month"]): f for f in audit["report"]["figures"] if f["level"] == "nation"}
    fas = {"first_visit": 1, "treatment": 2, "investigation": 3}
    for (area, month), f in nation.items():
        assert f["completed_all"] == sum(1 for r in completed if r["Fas"] == fas[area] and r["Rapportmanad"] == month)
        assert f["waiting"] == sum(1 for r in waiting if r["Fas"] == fas[area] and r["Rapportmanad"] == month
                                   and r["Avvikelse"] not in (2, 3))


def test_a_bad_month_is_a_clear_error(region: Path, capsys) -> None:
    assert main(["month", "--extract", str(region / "extract.csv"), "--month", "2026-06", "--to", "2026-03",
                 "--out", str(region / "bad")]) == 2
    assert "before" in capsys.readouterr().err


def test_the_endpoint_answers_audit_json_for_rows_and_csv(region: Path) -> None:
    # The service refuses a body with an identity number anywhere (the simulator injects some
    # as defects; the CLI rejects those rows): the request carries the extract without them.
    text = "\n".join(line for line in (region / "extract.csv").read_text(encoding="utf-8").splitlines()
                     if not looks_like_identity_number(line)) + "\n"
    rows = [{k: v for k, v in r.items() if v} for r in csv.DictReader(text.splitlines())]
    by_csv = client.post("/v1/months", json={"month": "2026-03", "to": "2026-06", "csv": text})
    by_rows = client.post("/v1/months", json={"month": "2026-03", "to": "2026-06", "rows": rows})
    assert by_csv.status_code == by_rows.status_code == 200
    assert by_csv.json()["totals"] == by_rows.json()["totals"]
    assert by_csv.json()["units"] == by_rows.json()["units"]
    assert "/v1/months" in client.get("/openapi.json").json()["paths"]


def test_the_endpoint_names_every_bad_field() -> None:
    r = client.post("/v1/months", json={"month": "March", "rows": [{"patient_ref": "p", "colour": "x"}, 3],
                                         "csv": "a"})
    assert r.status_code == 422
    paths = {e["path"] for e in r.json()["errors"]}
    assert paths == {"month", "$", "rows[0].colour", "rows[1]"}


def test_the_endpoint_never_echoes_an_identity_number() -> None:
    rows = [{"patient_ref": "19121212-1212", "event_id": "e1", "event_type": "care_request", "date": "2026-03-01",
             "region": "R", "unit": "U", "pathway": "A"}]
    r = client.post("/v1/months", json={"month": "2026-03", "rows": rows})
    # Refused at the door, like every endpoint's body (the CLI, reading a file, rejects the row instead).
    assert r.status_code == 422 and "19121212" not in r.text
    assert [e["path"] for e in r.json()["errors"]] == ["rows[0].patient_ref"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_audit_html_opens_offline_in_chromium(browser: Browser, month_out: Path) -> None:
    context = browser.new_context(viewport={"width": 1300, "height": 1000}, offline=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto((month_out / "audit.html").as_uri())
    assert page.locator("h1").inner_text().startswith("Registreringsgranskning")
    audit = json.loads((month_out / "audit.json").read_text(encoding="utf-8"))
    units = page.locator("section h2").all_inner_texts()
    for u in audit["units"]:
        assert any(t.startswith(u["unit"]) for t in units)
    assert page.locator("svg rect").count() > 0
    assert "Vanligaste mönstren" in page.content()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "audit.png"), full_page=False)
    page.pdf(path=str(ARTIFACTS / "audit.pdf"))  # prints
    assert (ARTIFACTS / "audit.pdf").stat().st_size > 0
    assert errors == [] and all(u.startswith("file:") for u in requests)
    context.close()


def test_the_upload_page_shows_the_audit_of_a_small_extract(browser: Browser, region: Path, tmp_path: Path) -> None:
    rows, key = simulate.simulate(40, 9)
    path = simulate.write(rows, key, tmp_path)
    with running_server(tmp_path / "server.log") as base:
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(base + "/")
        page.click("#month-link")
        page.wait_for_url("**/workbench/month")
        page.fill("#month", "2026-03")
        page.fill("#to", "2026-06")
        page.set_input_files("#file", str(path))
        page.click("button[type=submit]")
        page.wait_for_selector("#totals")
        expected = client.post("/v1/months", json={"month": "2026-03", "to": "2026-06",
                                                   "csv": path.read_text(encoding="utf-8")}).json()
        assert f"{expected['totals']['patients']} patienter" in page.locator("#totals").inner_text()
        assert page.locator("section[data-unit]").count() == len(expected["units"])
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "upload.png"), full_page=False)
        assert errors == []


def test_a_csv_line_with_the_wrong_number_of_cells_is_rejected_not_fatal() -> None:
    text = ("patient_ref,event_id,event_type,date\np1,e1,care_closed,2026-03-01\np1,e2,care_closed\n"
            "p2,e3,care_closed,2026-03-02\n")
    r = client.post("/v1/months", json={"month": "2026-03", "csv": text})
    assert r.status_code == 200 and r.json()["totals"]["patients"] == 2
    (bad,) = [f for f in r.json()["findings"] if f["kind"] == "rejected_row"]
    assert bad["detail"] == "row: expected 4 cells, got 3"


def test_rows_must_be_an_array() -> None:
    r = client.post("/v1/months", json={"month": "2026-03", "rows": None})
    assert r.status_code == 422 and [e["path"] for e in r.json()["errors"]] == ["rows"]
