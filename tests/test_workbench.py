"""The workbench tested as a clinician uses it: headless Chromium against a real server.

Debian's `chromium` (installed by `make test`) is driven by Playwright with that
executable; no browser is downloaded. Every test fails on a console error or an uncaught
page error; only the browser's own "Failed to load resource … 422" line is allowed, and
only in tests that send invalid input on purpose. Screenshots are written to
test-artifacts/workbench/ (or $BUP_ARTIFACTS).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Browser, Page, sync_playwright

from classifier import Classifier
from classifier import examples as library
from tests.server import ROOT, running_server

pytestmark = pytest.mark.slow  # a real server and Debian's chromium

CHROMIUM = os.environ.get("BUP_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
# The flags this machine needs: no sandbox as root, and no calls home (the network is closed).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("BUP_ARTIFACTS", ROOT / "test-artifacts")) / "workbench"
EXPECTED_422 = "Failed to load resource: the server responded with a status of 422"
EXAMPLES = {ex.name: ex for ex in library.load()}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(tmp_path_factory.mktemp("wb") / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs Debian's chromium package")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Console:
    """Everything the page printed as an error; `allow_422` for tests that send bad input on purpose."""

    def __init__(self, page: Page):
        self.errors: list[str] = []
        self.allow_422 = False
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not (self.allow_422 and e.startswith(EXPECTED_422))]


@pytest.fixture
def page(browser: Browser, base_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[Page, Console]]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    console = Console(pg)
    pg.goto(base_url + "/")
    pg.wait_for_selector("body[data-ready=true]")
    yield pg, console
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name.replace('/', '_')}.png"), full_page=True)
    context.close()
    assert console.unexpected() == [], f"console errors: {console.unexpected()}"


def open_example(pg: Page, name: str) -> None:
    pg.click(f'button[data-example="{name}"]')
    selector = "#journey-chart" if EXAMPLES[name].timeline else "#answer-card, .field-error"
    pg.wait_for_selector(selector)


def label_sv(clf: Classifier, contact_type: str) -> str:
    return clf.ruleset.tables["contact_types"]["contact_types"][contact_type]["label_sv"]


@pytest.mark.parametrize("name", [
    "first_visit/01_new_referral_assessment_scenario_a",
    "investigation/09_direct_start_scenario_b",
    "treatment/03_medication_not_covered",
    "wait/03_patient_chosen_wait_46_days",
])
def test_an_example_opens_in_the_form_and_reads_as_a_clinician_reads_it(
        page: tuple[Page, Console], classifier: Classifier, name: str) -> None:
    pg, _ = page
    open_example(pg, name)
    ex = EXAMPLES[name]
    answer = classifier.classify(ex.request)
    card = pg.locator("#answer-card")
    ctype, rule = answer["contact_type"], answer["rule"]["id"]
    assert card.get_attribute("data-contact-type") == ctype == ex.expect.get("contact_type", ctype)
    assert card.get_attribute("data-rule") == rule == ex.expect.get("rule", rule)
    assert label_sv(classifier, answer["contact_type"]) in card.locator(".contact-type").inner_text()
    assert answer["rule"]["title_sv"] in card.locator(".rule").inner_text()
    assert answer["rule"]["source"] in card.locator(".source").inner_text()
    if answer["wait"]:
        assert card.locator(".wait-days").inner_text() == f"{answer['wait']['days']} dagar"
        assert card.locator(".wait-start").inner_text().startswith(answer["wait"]["start_date"])
        assert card.locator(".within").inner_text() == ("ja" if answer["wait"]["within_limit"] else "nej")
        if answer["wait"]["exclusion"]:
            assert answer["wait"]["exclusion"] in card.locator(".counted").inner_text()
    else:
        assert "Ingen mätpunkt" in card.locator(".measurement").inner_text()
    shown = {w.get_attribute("data-code"): w.inner_text() for w in card.locator(".warning").all()}
    assert shown == {w["code"]: w["message_sv"] for w in answer["warnings"]}
    assert set(card.locator("[data-fact]").evaluate_all("ns => ns.map(n => n.dataset.fact)")) == set(answer["facts"])
    assert pg.locator(".expect.match").count() == (1 if "contact_type" in ex.expect else 0)


def test_every_single_contact_example_survives_the_form(page: tuple[Page, Console], classifier: Classifier) -> None:
    """Opening an example fills the form; what the form sends must get the example's own answer."""
    pg, console = page
    console.allow_422 = True  # the rejected/ examples are rejected on purpose
    checked = 0
    for name, ex in EXAMPLES.items():
        if ex.request is None:
            continue
        with pg.expect_response(lambda r: r.url.endswith("/v1/classify")) as resp:
            pg.click(f'button[data-example="{name}"]')
        body = resp.value.json()
        if "error_paths" in ex.expect:
            assert resp.value.status == 422, name
            assert sorted({e["path"] for e in body["errors"]}) == sorted(ex.expect["error_paths"]), name
            assert pg.locator("#answer .expect.match").count() == 1, name
        else:
            assert body == classifier.classify(ex.request), name
        checked += 1
    assert checked >= 60


def test_a_contact_typed_by_hand(page: tuple[Page, Console], classifier: Classifier) -> None:
    """EXAMPLES.md 1 entered field by field, without the library."""
    pg, _ = page
    pg.fill('[data-path="contact.id"]', "c-hand")
    pg.fill('[data-path="contact.date"]', "2026-02-26")
    pg.select_option('[data-path="contact.activity"]', "assessment")
    pg.fill('[data-path="contact.health_problem"]', "F41")
    pg.check("#has-care-request")
    pg.fill('[data-path="care_request.received_date"]', "2026-02-02")
    pg.select_option('[data-path="care_request.pathway"]', "A")
    pg.click("#add-history")
    row = pg.locator("#history-table tbody tr").first
    row.locator('[data-key="type"]').select_option("contact")
    row.locator('[data-key="date"]').fill("2024-01-10")
    row.locator('[data-key="setting"]').select_option("bup")
    row.locator('[data-key="contact_type"]').select_option("return_visit")
    row.locator('[data-key="health_problem"]').fill("F41")
    pg.click("#classify")
    card = pg.wait_for_selector("#answer-card")
    assert card.get_attribute("data-rule") == "N1"
    assert "Första besök/nybesök" in card.inner_text()
    assert "24 dagar" in card.inner_text()
    assert "Nytt vårdåtagande" in card.inner_text()


EVENT_LABELS_SV = {"investigation_concluded": "Utredning avslutad", "treatment_concluded": "Behandling avslutad",
                   "care_closed": "Vårdåtagande avslutat"}


@pytest.mark.parametrize("name", [e.name for e in EXAMPLES.values() if e.timeline])
def test_a_journey_is_drawn_with_waits_and_limits(page: tuple[Page, Console], classifier: Classifier,
                                                  name: str) -> None:
    pg, _ = page
    with pg.expect_response(lambda r: r.url.endswith("/v1/classify/timeline")) as resp:
        open_example(pg, name)
    events = EXAMPLES[name].timeline["events"]
    results = classifier.classify_timeline(EXAMPLES[name].timeline)["results"]
    assert resp.value.json()["results"] == results  # the rows sent exactly the example's events
    rows = pg.locator("#journey-results tbody tr")
    assert rows.count() == len(results)
    for i, (exp, res) in enumerate(zip(EXAMPLES[name].expect, results, strict=True)):
        assert rows.nth(i).get_attribute("data-rule") == exp["rule"] == res["rule"]["id"]
        assert res["label_sv"] in rows.nth(i).inner_text()
        assert "✓" in rows.nth(i).inner_text()
    waits = [r["wait"] for r in results if r["wait"] and r["wait"]["start_date"]]
    bars = pg.locator("#journey-chart .wait-bar")
    assert [int(b.get_attribute("data-days")) for b in bars.all()] == [w["days"] for w in waits]
    assert pg.locator('#journey-chart [data-limit="30d"]').count() == len(waits)
    assert pg.locator('#journey-chart [data-limit="12m"]').count() >= 1
    labels = pg.locator("#journey-chart .event-label").all_text_contents()
    assert len(labels) == len(events)
    for label, event in zip(labels, events, strict=True):
        if event["type"] != "contact":
            assert label == EVENT_LABELS_SV[event["type"]]


def test_api_errors_appear_next_to_their_fields(page: tuple[Page, Console]) -> None:
    pg, console = page
    console.allow_422 = True
    open_example(pg, "first_visit/01_new_referral_assessment_scenario_a")
    pg.fill('[data-path="contact.date"]', "2026-02-30")
    pg.click("#add-history")
    row = pg.locator("#history-table tbody tr").first
    row.locator('[data-key="type"]').select_option("care_closed")
    row.locator('[data-key="date"]').fill("2026-13-01")
    pg.click("#add-history")
    second = pg.locator("#history-table tbody tr").nth(1)
    second.locator('[data-key="date"]').fill("2025-01-01")  # a contact without its setting
    pg.click("#classify")
    err = pg.wait_for_selector('.field-error[data-error-for="contact.date"]')
    assert "calendar date" in err.inner_text()
    assert pg.locator('label:has([data-path="contact.date"]) .field-error').count() == 1
    assert pg.locator('#history-table tbody tr .field-error[data-error-for="history[0].date"]').count() == 1
    missing = pg.locator('#history-table tbody tr:nth-child(2) .field-error[data-error-for="history[1].setting"]')
    assert missing.inner_text() == "Obligatoriskt fält saknas"
    assert pg.locator("#answer-card").count() == 0  # nothing half-done is shown

    # the same in the journey view: an event's field
    open_example(pg, "timeline/01_adhd_journey")
    pg.locator('#events-table tbody tr').nth(1).locator('[data-key="contact.decision_date"]').fill("2026-04-30")
    pg.click("#classify-journey")
    err = pg.wait_for_selector('.field-error[data-error-for="events[1].contact.decision_date"]')
    assert err.is_visible()
    assert pg.locator("#journey-chart").count() == 0


def test_english_switch(page: tuple[Page, Console], classifier: Classifier) -> None:
    pg, _ = page
    open_example(pg, "investigation/09_direct_start_scenario_b")
    pg.click("#lang")
    assert pg.locator("h1").inner_text() == "BUP classifier – workbench"
    assert pg.locator("html").get_attribute("lang") == "en"
    card = pg.locator("#answer-card")
    rule = classifier.ruleset.rules_by_id["N2"]
    assert rule.title_en in card.inner_text()
    assert "Investigation" in card.locator(".contact-type").inner_text()
    assert pg.locator('[data-path="contact.date"]').input_value() == "2026-02-05"  # what was entered stays
    pg.click("#lang")
    assert pg.locator("h1").inner_text() == "BUP-klassificeraren – arbetsbänk"
    assert rule.title_sv in pg.locator("#answer-card").inner_text()


@pytest.mark.parametrize("name", ["treatment/11_direct_start_treatment", "timeline/01_adhd_journey"])
def test_a_case_downloads_as_a_passing_example(page: tuple[Page, Console], classifier: Classifier,
                                               tmp_path: Path, name: str) -> None:
    pg, _ = page
    open_example(pg, name)
    pg.fill("#example-title", "Mitt fall från arbetsbänken")
    pg.fill("#example-story", "En 9-åring med oro. Fallet sparat som regressionstest.")
    with pg.expect_download() as dl:
        pg.click("#download")
    target = tmp_path / "new" / "mitt_fall.yaml"
    target.parent.mkdir()
    dl.value.save_as(str(target))
    assert dl.value.suggested_filename == "mitt_fall_fran_arbetsbanken.yaml"
    doc: dict[str, Any] = yaml.safe_load(target.read_text(encoding="utf-8"))
    assert doc["title"] == "Mitt fall från arbetsbänken"
    found = library.load(target.parent)
    assert len(found) == 1 and library.check(classifier, found[0]) == []
    original = EXAMPLES[name]
    if original.request is not None:
        assert classifier.classify(doc["request"]) == classifier.classify(original.request)
    else:
        assert classifier.classify_timeline(doc["timeline"]) == classifier.classify_timeline(original.timeline)


def test_an_identity_number_in_the_story_is_refused_next_to_the_story(page: tuple[Page, Console]) -> None:
    pg, console = page
    console.allow_422 = True
    open_example(pg, "first_visit/01_new_referral_assessment_scenario_a")
    pg.fill("#example-story", "Pojke 20150312-1234 med oro.")
    pg.click("#download")
    err = pg.wait_for_selector('#save-box .field-error[data-error-for="story"]')
    assert "identity" in err.inner_text()
    pg.fill("#example-story", "Pojke med oro.")
    pg.fill("#patient-ref", "20150312-1234")
    pg.click("#download")
    err = pg.wait_for_selector('#save-box .field-error[data-error-for="request.patient.ref"]')
    assert "must not hold one" in err.inner_text()


def test_care_closed_ends_the_commitment_window(page: tuple[Page, Console]) -> None:
    """timeline/02: care is closed, then a new referral opens a second commitment, whose 12 months are drawn."""
    pg, _ = page
    open_example(pg, "timeline/02_return_after_closed_care")
    assert pg.locator("#journey-chart rect.window").count() == 2
    assert pg.locator('#journey-chart [data-limit="12m"]').count() == 1
    assert "12 mån 2027-03-09" in pg.locator("#journey-chart").text_content()


def test_the_library_can_be_searched(page: tuple[Page, Console]) -> None:
    pg, _ = page
    total = pg.locator("button.example").count()
    assert total == len(EXAMPLES)
    pg.fill("#library-filter", "scenario c")
    visible = pg.locator("button.example:visible")
    names = visible.evaluate_all("bs => bs.map(b => b.dataset.example)")
    assert 0 < len(names) < total
    assert "scenarios/07_c_evi_basic_investigation_is_first_visit" in names
    for name in names:
        ex = EXAMPLES[name]
        text = " ".join([name, ex.title, ex.title_sv, ex.story, str(ex.request or ex.timeline)]).lower()
        assert "scenario" in text and "c" in text
    pg.fill("#library-filter", "")
    assert pg.locator("button.example:visible").count() == total
