"""The workbench tested as a clinician uses it: headless Chromium against a real server.

Debian's `chromium` (installed by `make test`) is driven by Playwright with that
executable; no browser is downloaded. Every test fails on a console error or an uncaught
page error; only the browser's own "Failed to load resource … 422" line is allowed, and
only in tests that send invalid input on purpose. Screenshots are written to
test-artifacts/workbench/ (or $BUP_ARTIFACTS).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
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


SERVER_LOG: list[Path] = []
AXE = ROOT / ".venv" / "node" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = [400, 768, 1300]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("wb") / "server.log"
    SERVER_LOG.append(log)
    with running_server(log) as base:
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
    width = getattr(request, "param", 1400)
    context = browser.new_context(viewport={"width": width, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    console = Console(pg)
    pg.goto(base_url + "/")
    pg.wait_for_selector("body[data-ready=true]")
    yield pg, console
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name.replace('/', '_')}.png"), full_page=True)
    context.close()
    assert console.unexpected() == [], f"console errors: {console.unexpected()}"


def settled(pg: Page) -> None:
    """Wait until every answer the page asked for is drawn (the page marks a box aria-busy meanwhile)."""
    pg.wait_for_selector('[aria-busy="true"]', state="detached")


def open_example(pg: Page, name: str) -> None:
    if not pg.is_visible(f'button[data-example="{name}"]'):  # narrow: the library is folded above the form
        pg.click("#library-box summary")
    pg.click(f'button[data-example="{name}"]')
    settled(pg)
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
        settled(pg)
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
    pg.fill('[data-path="care_request.received_date"]', "2026-02-02")
    assert pg.is_checked("#has-care-request")  # a filled-in care request is a care request
    pg.select_option('[data-path="care_request.pathway"]', "A")
    pg.click("#add-history")
    row = pg.locator("#history-list > li").first
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
    row = pg.locator("#history-list > li").first
    row.locator('[data-key="type"]').select_option("care_closed")
    row.locator('[data-key="date"]').fill("2026-13-01")
    pg.click("#add-history")
    second = pg.locator("#history-list > li").nth(1)
    second.locator('[data-key="date"]').fill("2025-01-01")  # a contact without its health problem
    pg.click("#classify")
    err = pg.wait_for_selector('.field-error[data-error-for="contact.date"]')
    assert err.inner_text() == "ska vara ett verkligt datum som 'ÅÅÅÅ-MM-DD', skickat: '2026-02-30'"
    assert pg.locator('label:has([data-path="contact.date"]) .field-error').count() == 1
    assert pg.locator('#history-list > li .field-error[data-error-for="history[0].date"]').count() == 1
    missing = pg.locator('#history-list > li:nth-child(2) .field-error[data-error-for="history[1].health_problem"]')
    assert missing.inner_text() == "obligatoriskt fält saknas"
    assert pg.locator("#answer-card").count() == 0  # nothing half-done is shown

    # the same in the journey view: an event's field
    open_example(pg, "timeline/01_adhd_journey")
    pg.locator("#events-list > li").nth(1).locator('[data-key="contact.decision_date"]').fill("2026-04-30")
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
    assert "personnummer" in err.inner_text()
    pg.fill("#example-story", "Pojke med oro.")
    pg.fill("#patient-ref", "20150312-1234")
    pg.click("#download")
    err = pg.wait_for_selector('#save-box .field-error[data-error-for="request.patient.ref"]')
    assert "personnummer" in err.inner_text() and "20150312" not in err.inner_text()


def test_care_closed_ends_the_commitment_window(page: tuple[Page, Console]) -> None:
    """timeline/02: care is closed, then a new referral opens a second commitment, whose 12 months are drawn."""
    pg, _ = page
    open_example(pg, "timeline/02_return_after_closed_care")
    assert pg.locator("#journey-chart rect.window[data-start]").count() == 2
    assert pg.locator('#journey-chart [data-limit="12m"]').count() == 1
    assert "slut 2027-03-09" in pg.locator("#journey-chart").text_content()


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


# ---- issue 13 -------------------------------------------------------------------------------


def sent_request(pg: Page, button: str = "#classify", path: str = "/v1/classify") -> dict[str, Any]:
    with pg.expect_response(lambda r: r.url.endswith(path)) as resp:
        pg.click(button)
    settled(pg)
    return json.loads(resp.value.request.post_data or "{}")


def test_1_what_is_on_screen_is_what_is_sent(page: tuple[Page, Console]) -> None:
    pg, _ = page
    open_example(pg, "first_visit/13_missing_care_request")
    assert not pg.is_checked("#has-care-request")
    pg.fill('[data-path="care_request.received_date"]', "2026-02-02")
    pg.select_option('[data-path="care_request.pathway"]', "A")
    assert pg.is_checked("#has-care-request")  # typing a date ticks the box: nothing hidden
    assert sent_request(pg)["care_request"] == {"received_date": "2026-02-02", "pathway": "A"}
    assert "vårdbegäran togs emot den 2 februari 2026" in pg.inner_text("#answer-card .why-wait")
    pg.select_option('[data-path="care_request.evi_assessment.problem_mapping"]', "true")
    assert pg.is_checked("#has-evi")
    pg.uncheck("#has-care-request")  # unticking empties what it held
    assert pg.input_value('[data-path="care_request.received_date"]') == ""
    assert pg.input_value('[data-path="care_request.evi_assessment.problem_mapping"]') == ""
    assert not pg.is_checked("#has-evi")
    assert "care_request" not in sent_request(pg)


def test_2_clear_returns_a_fresh_page(page: tuple[Page, Console], base_url: str) -> None:
    pg, _ = page
    fresh = pg.evaluate("JSON.stringify(readContactRequest())")
    open_example(pg, "investigation/09_direct_start_scenario_b")
    pg.click("#clear-contact")
    assert pg.evaluate("JSON.stringify(readContactRequest())") == fresh
    assert pg.input_value('[data-path="contact.setting"]') == "bup"
    assert pg.is_hidden("#story-box")
    assert pg.input_value("#example-title") == pg.input_value("#example-story") == ""
    assert pg.locator("button.example.current").count() == 0
    assert pg.locator("#answer-card").count() == 0
    pg.fill('[data-path="contact.id"]', "c-1")
    pg.fill('[data-path="contact.date"]', "2026-02-26")
    pg.select_option('[data-path="contact.activity"]', "assessment")
    pg.fill('[data-path="contact.health_problem"]', "F41")
    pg.click("#classify")
    assert pg.wait_for_selector("#answer-card").get_attribute("data-rule") == "N1"  # Enhet was not left empty


def test_3_x1_is_worded_the_other_way_round_and_unanswered_means_no_doubt(
        page: tuple[Page, Console], classifier: Classifier) -> None:
    pg, _ = page
    name = "investigation/09_direct_start_scenario_b"
    open_example(pg, name)
    x1 = pg.locator('label:has([data-path="care_request.evi_assessment.referrer_assessment_doubted"])')
    assert "omvänd fråga, nej är det goda svaret" in x1.inner_text()
    options = x1.locator("option").all_inner_texts()
    assert options == ["– ej besvarad (= inget tvivel) –", "ja – BUP tvivlar", "nej – inget tvivel (det goda svaret)"]
    assert "X1 är omvänd" in pg.inner_text(".evi .muted")
    x1.locator("select").select_option("")
    sent = sent_request(pg)
    assert "referrer_assessment_doubted" not in sent["care_request"]["evi_assessment"]
    assert pg.locator("#answer-card").get_attribute("data-rule") == classifier.classify(sent)["rule"]["id"] == "N2"


def test_4_every_api_error_the_page_can_meet_is_in_swedish(page: tuple[Page, Console]) -> None:
    pg, console = page
    console.allow_422 = True
    open_example(pg, "first_visit/01_new_referral_assessment_scenario_a")
    pg.fill('[data-path="contact.date"]', "26/02/2026")
    pg.fill('[data-path="contact.kva_codes"]', "XX1")
    with pg.expect_response(lambda r: r.url.endswith("/v1/classify")) as resp:
        pg.click("#classify")
    settled(pg)
    errors = resp.value.json()["errors"]
    assert {e["path"] for e in errors} == {"contact.date", "contact.kva_codes[0]"}
    for e in errors:
        assert pg.inner_text(f'.field-error[data-error-for="{e["path"]}"]') == e["message_sv"]
    assert "ska vara" in pg.inner_text('.field-error[data-error-for="contact.date"]')
    # An identity number is refused at the door, before anything else is read, and never echoed.
    pg.fill("#patient-ref", "20150312-1234")
    with pg.expect_response(lambda r: r.url.endswith("/v1/classify")) as resp:
        pg.click("#classify")
    settled(pg)
    errors = resp.value.json()["errors"]
    assert [e["path"] for e in errors] == ["patient.ref"] and "20150312" not in json.dumps(errors)
    assert "personnummer" in pg.inner_text('.field-error[data-error-for="patient.ref"]')
    pg.fill('[data-path="contact.date"]', "2026-02-26")
    pg.fill('[data-path="contact.kva_codes"]', "")
    pg.fill("#patient-ref", "")
    pg.fill('[data-path="contact.decision_date"]', "2026-03-01")
    pg.click("#classify")
    err = pg.wait_for_selector('.field-error[data-error-for="contact.decision_date"]')
    assert err.inner_text() == "ska vara samma dag som kontakten (2026-02-26) eller tidigare"


ENGLISH_LINE = re.compile(r"\b(the|is|with|without|and|of|first|decision)\b")
SWEDISH = re.compile(r"[åäöÅÄÖ]|\b(och|är|som|med|på|inte|efter|den|det|en|ett|till|av|vid|om)\b")


def test_5_no_english_codes_in_a_swedish_answer_and_the_language_survives_a_reload(
        page: tuple[Page, Console], base_url: str) -> None:
    pg, _ = page
    for ex in EXAMPLES.values():  # each story is Swedish only
        english = [line for line in ex.story.splitlines() if ENGLISH_LINE.search(line) and not SWEDISH.search(line)]
        assert english == [], ex.name
    open_example(pg, "investigation/10_direct_start_refused_parent_school_missing")
    card = pg.inner_text("#answer-card")
    for code in ("first_visit", "parent_and_school_input", "direct_start_criteria_not_met", "new_care_commitment"):
        assert code not in card
    meta = pg.inner_text("#story-meta")
    assert "utlöser" not in meta and "missar" not in meta
    assert "Exemplet visar regel N3 (" in meta and "men den regeln gäller inte här" in meta
    pg.click("#lang")
    pg.reload()
    pg.wait_for_selector("body[data-ready=true]")
    assert pg.locator("html").get_attribute("lang") == "en"
    assert pg.inner_text("h1") == "BUP classifier – workbench"
    pg.click("#lang")  # back to Swedish for the next test's page (local storage is per context anyway)


def test_6_the_answer_explains_itself_with_links_to_the_definitions(page: tuple[Page, Console],
                                                                     base_url: str) -> None:
    pg, _ = page
    open_example(pg, "investigation/01_decision_adhd_after_first_visit")
    why = pg.locator("#answer-card .why")
    rule = pg.locator("#answer-card").get_attribute("data-rule")
    assert f"Regel {rule} gäller" in why.inner_text() and "Det avgjordes av:" in why.inner_text()
    wait = why.locator(".why-wait").inner_text()
    assert wait.startswith("Väntetiden räknas från beslutet den 5 mars 2026")
    assert "Regelverket är preliminärt" in why.inner_text()
    links = why.locator("a.definition-link")
    assert links.count() >= 1
    href = links.first.get_attribute("href")
    assert href and href.startswith("/docs/definitions#")
    doc = pg.context.new_page()
    doc.goto(base_url + href)
    assert doc.locator(f'[id="{href.split("#")[1]}"]').count() == 1
    doc.close()


@pytest.mark.parametrize("page", WIDTHS, indirect=True, ids=[f"{w}px" for w in WIDTHS])
def test_7_every_width_without_horizontal_scroll(page: tuple[Page, Console], request: pytest.FixtureRequest) -> None:
    pg, _ = page
    width = pg.viewport_size["width"] if pg.viewport_size else 0
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name, selector in [("investigation/09_direct_start_scenario_b", "#answer-card"),
                           ("timeline/01_adhd_journey", "#events-list")]:
        open_example(pg, name)
        assert pg.evaluate("document.documentElement.scrollWidth") <= width, name
        box = pg.locator(selector).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, name
        if selector == "#answer-card":
            assert box["width"] >= min(width - 40, 700) * 0.85  # a card readable as lines, not a column of words
        pg.screenshot(path=str(ARTIFACTS / f"width_{width}_{name.split('/')[0]}.png"), full_page=True)


def test_8_keyboard_and_accessibility(page: tuple[Page, Console]) -> None:
    pg, _ = page
    pg.keyboard.press("Tab")
    assert pg.evaluate("document.activeElement.className") == "skip-link"
    assert pg.locator(".skip-link").bounding_box()["y"] >= 0  # shown when focused
    pg.keyboard.press("Enter")
    pg.keyboard.press("Tab")
    assert pg.evaluate("document.activeElement.dataset.path") == "contact.id"
    outline = pg.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")
    for name in ("investigation/09_direct_start_scenario_b", "timeline/01_adhd_journey"):
        open_example(pg, name)
        assert axe_violations(pg) == [], name


def axe_violations(pg: Page) -> list[tuple[str, str, int]]:
    """axe-core's serious and critical findings on the page as it is."""
    assert AXE.exists(), "make axe installs axe-core (npm) into .venv/node"
    pg.add_script_tag(path=str(AXE))
    result = pg.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [(v["id"], v["impact"], len(v["nodes"])) for v in result["violations"]
            if v["impact"] in ("serious", "critical")]


def pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def test_9_an_answer_and_a_journey_print_as_one_clean_page(page: tuple[Page, Console]) -> None:
    pg, _ = page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in ("investigation/09_direct_start_scenario_b", "timeline/01_adhd_journey"):
        open_example(pg, name)
        pg.emulate_media(media="print")
        assert pg.locator("header").is_hidden() and pg.locator("#library").is_hidden()
        assert pg.locator("form:visible").count() == 0
        pg.screenshot(path=str(ARTIFACTS / f"print_{name.split('/')[0]}.png"), full_page=True)
        pdf = pg.pdf(format="A4")
        (ARTIFACTS / f"print_{name.split('/')[0]}.pdf").write_bytes(pdf)
        assert pdf_pages(pdf) == 1, name
        pg.emulate_media(media="screen")


@pytest.mark.parametrize("name", ["investigation/09_direct_start_scenario_b", "timeline/02_return_after_closed_care"])
def test_10_a_shared_link_and_a_saved_file_open_the_same_case(
        page: tuple[Page, Console], browser: Browser, base_url: str, tmp_path: Path, name: str) -> None:
    pg, _ = page
    open_example(pg, name)
    journey = EXAMPLES[name].timeline is not None
    pg.click("#share-journey-button" if journey else "#share-contact-button")
    link = pg.input_value("#share-journey input" if journey else "#share-contact input")
    assert "#resa=" in link if journey else "#fall=" in link
    assert "?" not in link  # the case is in the fragment only: it never reaches a server log
    def shown(p: Page) -> str:  # the answer, without the example's expectation marks
        return p.inner_text("#journey-results" if journey else "#answer-card").replace(" ✓", "")

    before = shown(pg)
    other = browser.new_context(viewport={"width": 1300, "height": 900}).new_page()
    other.goto(link)
    other.wait_for_selector("#journey-chart" if journey else "#answer-card")
    assert shown(other) == before
    other.context.close()
    with pg.expect_download() as dl:
        pg.click("#download")
    saved = tmp_path / "case.yaml"
    dl.value.save_as(str(saved))
    pg.click("#clear-journey" if journey else "#clear-contact")
    pg.set_input_files("#open-file-journey" if journey else "#open-file-contact", str(saved))
    pg.wait_for_selector("#journey-chart" if journey else "#answer-card")
    assert shown(pg) == before
    assert pg.is_visible("#story-box")


def test_11_the_journey_editor_sets_every_field_and_the_chart_is_legible(page: tuple[Page, Console]) -> None:
    pg, _ = page
    open_example(pg, "timeline/01_adhd_journey")
    card = pg.locator("#events-list > li").first
    form_keys = set(pg.locator("#contact-editor [data-key]").evaluate_all("ns => ns.map(n => n.dataset.key)"))
    assert set(card.locator("[data-key]").evaluate_all("ns => ns.map(n => n.dataset.key)")) == form_keys | {"type"}
    card.locator('[data-key="contact.kva_codes"]').fill("DU011")
    card.locator('[data-key="contact.contact_form"]').select_option("video")
    assert card.locator(".checklist").is_hidden()  # folded in a journey until its box is ticked
    card.locator(".has-evi").check()
    card.locator('[data-key="care_request.evi_assessment.problem_mapping"]').select_option("true")
    sent = sent_request(pg, "#classify-journey", "/v1/classify/timeline")
    first = sent["events"][0]
    assert first["contact"]["kva_codes"] == ["DU011"] and first["contact"]["contact_form"] == "video"
    assert first["care_request"]["evi_assessment"] == {"problem_mapping": True}
    assert pg.locator("#journey-chart .legend-item").count() == 9
    boxes = pg.locator("#journey-chart text").evaluate_all(
        "ns => ns.map(n => { const b = n.getBBox(); "
        "return [b.x, b.y, b.x + b.width, b.y + b.height, n.textContent]; })")
    clashes = [(a[4], b[4]) for i, a in enumerate(boxes) for b in boxes[i + 1:]
               if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]]
    assert clashes == []


@pytest.mark.parametrize("name", [e.name for e in EXAMPLES.values() if e.timeline])
def test_12_commitment_windows_come_from_the_server(page: tuple[Page, Console], classifier: Classifier,
                                                    name: str) -> None:
    pg, _ = page
    open_example(pg, name)
    results = classifier.classify_timeline(EXAMPLES[name].timeline)["results"]
    opened = sorted({r["commitment"]["opened"] for r in results if r["commitment"]})
    drawn = pg.locator("#journey-chart rect.window[data-start]").evaluate_all("ns => ns.map(n => n.dataset.start)")
    assert sorted(drawn) == opened
    ends = pg.locator("#journey-chart rect.window[data-start]").evaluate_all("ns => ns.map(n => n.dataset.end)")
    answer = classifier.classify_timeline(EXAMPLES[name].timeline)["commitments"]
    assert sorted(ends) == sorted(c["ends"] for c in answer)  # where each ends: the server's word too
    js = (ROOT / "api" / "workbench" / "workbench.js").read_text(encoding="utf-8")
    assert "plusMonths" not in js and "commitment_months" not in js  # no second 12-month rule in the page
    assert 'type === "care_closed"' not in js  # nor a rule of its own about where a care_closed ends one


def test_13_docs_work_without_the_internet(browser: Browser, base_url: str) -> None:
    html = httpx.get(base_url + "/docs").text
    assert re.findall(r"(?:src|href)=[\"'](?:https?:)?//", html) == []
    context = browser.new_context()
    outside: list[str] = []

    def block(route: Any) -> None:
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", block)
    pg = context.new_page()
    pg.goto(base_url + "/docs")
    pg.wait_for_selector(".swagger-ui .info .title", timeout=20000)
    assert "bup-classifier" in pg.inner_text(".swagger-ui .info .title")
    assert pg.locator(".opblock").count() >= 5
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "docs_offline.png"))
    pg.goto(base_url + "/redoc")  # Redoc too: its logo came from a CDN
    pg.wait_for_selector(".api-info h1", timeout=20000)
    pg.wait_for_load_state("networkidle")
    assert "bup-classifier" in pg.inner_text(".api-info h1")
    pg.screenshot(path=str(ARTIFACTS / "redoc_offline.png"))
    context.close()
    assert outside == []


def test_15_the_server_says_where_it_listens(base_url: str) -> None:
    assert f"bup-classifier listening on {base_url}" in SERVER_LOG[-1].read_text(encoding="utf-8")


def test_14_every_request_property_in_the_openapi_schema_has_a_description(base_url: str) -> None:
    schema = httpx.get(base_url + "/openapi.json").json()["components"]["schemas"]
    models = ["ClassifyRequest", "TimelineRequest", "Patient", "Contact", "CareRequest", "EviAssessment",
              "HistoryContact", "InvestigationConcluded", "TreatmentConcluded", "CareClosed", "TimelineContact"]
    missing = [f"{m}.{p}" for m in models for p, d in schema[m]["properties"].items() if not d.get("description")]
    assert missing == []
    example = httpx.get(base_url + "/openapi.json").json()["paths"]["/v1/classify/timeline"]["post"]
    events = example["requestBody"]["content"]["application/json"]["examples"]["journey"]["value"]["events"]
    assert all("activity" in e["contact"] for e in events if e["type"] == "contact")  # every required field


# ---- issue 23: pages that read well on any screen ----------------------------------------------------

# Every visible word of at least two letters that the browser broke over two lines (a word alone too
# wide for its line may still break; a word in a too-narrow cell broken letter by letter is what this finds).
BROKEN_WORDS = """() => {
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = walker.nextNode());) {
    const p = n.parentElement;
    if (!p || p.closest("svg, script, style, option, [hidden], .skip-link") || !p.getClientRects().length) continue;
    for (const m of n.data.matchAll(/[\\p{L}\\p{N}]{2,}/gu)) {
      const r = document.createRange();
      r.setStart(n, m.index);
      r.setEnd(n, m.index + m[0].length);
      const tops = new Set([...r.getClientRects()].filter((x) => x.width > 0).map((x) => Math.round(x.top)));
      if (tops.size > 1) bad.push(m[0]);
    }
  }
  return bad;
}"""
# Every visible select whose longest choice does not fit it (the text would be cut).
CUT_SELECTS = """() => {
  const ctx = document.createElement("canvas").getContext("2d");
  return [...document.querySelectorAll("select")].filter((s) => s.getClientRects().length).flatMap((s) => {
    const cs = getComputedStyle(s);
    ctx.font = `${cs.fontSize} ${cs.fontFamily}`;
    const room = s.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 16;
    return [...s.options].filter((o) => ctx.measureText(o.text).width > room).map((o) => o.text);
  });
}"""


def assert_reads_well(pg: Page, what: str) -> None:
    """No sideways scroll, no word broken letter by letter, every choice of every select shown whole."""
    width = pg.evaluate("document.documentElement.clientWidth")
    assert pg.evaluate("document.documentElement.scrollWidth") <= width, what
    assert pg.evaluate(BROKEN_WORDS) == [], what
    assert pg.evaluate(CUT_SELECTS) == [], what


@pytest.mark.parametrize("page", WIDTHS, indirect=True, ids=[f"{w}px" for w in WIDTHS])
def test_16_the_workbench_reads_well_at_every_width(page: tuple[Page, Console]) -> None:
    pg, _ = page
    width = pg.viewport_size["width"] if pg.viewport_size else 0
    # the library is reachable without scrolling past the form (folded above it on a narrow screen)
    assert pg.locator("#library-box summary").bounding_box()["y"] < 600
    open_example(pg, "investigation/09_direct_start_scenario_b")
    assert_reads_well(pg, "contact")
    pg.click("#jump-answer a")  # the answer, below the form, one click away
    assert pg.locator("#answer-card").bounding_box()["y"] < pg.viewport_size["height"]
    open_example(pg, "timeline/01_adhd_journey")
    assert_reads_well(pg, "journey")
    chart, box = pg.locator("#journey-chart").bounding_box(), pg.locator(".chart-box").bounding_box()
    assert chart["x"] >= box["x"] and chart["x"] + chart["width"] <= box["x"] + box["width"] + 1  # not clipped
    # the results come first, the checklist once at most (folded where no care request is ticked)
    assert pg.locator("#journey-results").bounding_box()["y"] < pg.locator("#events-list").bounding_box()["y"]
    assert pg.locator("#events-list .checklist-item:visible").count() <= 8
    height = pg.evaluate("document.documentElement.scrollHeight")
    if width >= 1300:
        assert height < 4500, height  # was 7,500 px with the checklist under every event
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"journey_{width}px.png"), full_page=True)


@pytest.mark.parametrize("page", WIDTHS, indirect=True, ids=[f"{w}px" for w in WIDTHS])
def test_17_the_month_page_reads_well_in_swedish(page: tuple[Page, Console], base_url: str, tmp_path: Path,
                                                 classifier: Classifier) -> None:
    pg, console = page
    console.allow_422 = True
    width = pg.viewport_size["width"] if pg.viewport_size else 0
    pg.goto(base_url + "/workbench/month")
    pg.wait_for_selector("body[data-ready=true]")
    extract = tmp_path / "extract.csv"
    # a small extract as a region writes it: two units, a registration the rules disagree with, a duplicate id
    extract.write_text(
        "patient_ref,event_id,event_type,date,region,unit,pathway,setting,activity,health_problem,"
        "registered_contact_type\n"
        "p1,e1,care_request,2026-02-20,Region Nord,BUP Nord 1,A,,,,\n"
        "p1,e2,contact,2026-03-10,Region Nord,BUP Nord 1,,bup,assessment,F41,return_visit\n"
        "p2,e3,care_request,2026-03-01,Region Nord,BUP Nord 2,A,,,,\n"
        "p2,e3,contact,2026-03-20,Region Nord,BUP Nord 2,,bup,assessment,F90,first_visit\n", encoding="utf-8")
    pg.set_input_files("#file", str(extract))
    pg.click("button[type=submit]")
    pg.wait_for_selector("#totals")
    settled(pg)
    text = pg.inner_text("#out")
    findings = httpx.get(base_url + "/workbench/library").json()["findings"]
    assert findings["duplicate_id"] in text and "duplicate_id" not in text
    assert label_sv(classifier, "return_visit") in text  # contact types in the table's words
    assert_reads_well(pg, "month")
    assert axe_violations(pg) == []
    pg.screenshot(path=str(ARTIFACTS / f"month_{width}px.png"), full_page=True)
    pg.fill("#month", "mars")  # a bad month: the answer's Swedish, next to its field name
    pg.click("button[type=submit]")
    err = pg.wait_for_selector('#out .field-error[data-error-for="month"]')
    body = httpx.post(base_url + "/v1/months", json={"month": "mars", "csv": extract.read_text()}).json()
    assert err.inner_text() == f"month: {body['errors'][0]['message_sv']}"
    assert "invalid request" not in pg.inner_text("#out")


FORMATS = Path(__file__).resolve().parent.parent / "examples" / "month" / "formats"


def test_17b_the_month_page_sends_the_file_as_it_is_on_disk(page: tuple[Page, Console], base_url: str) -> None:
    """Excel (.xlsx), Parquet and a Windows-1252 CSV (Swedish Excel's "CSV") give the same summary as the
    plain CSV: the page sends the bytes, the service reads them as the command line does."""
    pg, _ = page
    pg.goto(base_url + "/workbench/month")
    pg.wait_for_selector("body[data-ready=true]")
    pg.fill("#month", "2026-02")
    pg.fill("#to", "2026-03")
    summaries = {}
    for name in ("extract_comma.csv", "extract_windows1252.csv", "extract.xlsx", "extract.parquet"):
        pg.evaluate("document.getElementById('out').replaceChildren()")
        pg.set_input_files("#file", str(FORMATS / name))
        pg.click("button[type=submit]")
        pg.wait_for_selector("#totals")
        summaries[name] = pg.inner_text("#totals")
    assert "5 patienter" in summaries["extract_comma.csv"] and "0 rader" in summaries["extract_comma.csv"], summaries
    assert len(set(summaries.values())) == 1, summaries


def test_18_no_english_in_a_swedish_answer_and_compare_disabled_when_it_cannot(
        page: tuple[Page, Console], base_url: str) -> None:
    pg, _ = page
    open_example(pg, "investigation/09_direct_start_scenario_b")
    card = pg.inner_text("#answer-card")
    assert "provisional" not in card and "confirmed" not in card and "preliminärt" in card
    pg.goto(base_url + "/workbench/impact")
    pg.wait_for_selector("body[data-ready=true]")
    assert pg.is_disabled("#run")  # one rule set loaded: nothing to compare with, and the page says why
    assert "Jämför går inte" in pg.inner_text("#held")
    assert_reads_well(pg, "impact")


def test_19_every_identity_number_is_marked_at_its_field(page: tuple[Page, Console]) -> None:
    """Three fields with an identity number: each is marked where it was typed, and no number is repeated."""
    pg, console = page
    console.allow_422 = True
    open_example(pg, "first_visit/01_new_referral_assessment_scenario_a")
    numbers = {"contact.id": "20150312-1234", "patient.ref": "201503121234", "contact.health_problem": "19121212-1212"}
    for path, number in numbers.items():
        pg.fill(f'[data-path="{path}"]', number)
    sent_request(pg)
    for path in numbers:
        assert "personnummer" in pg.inner_text(f'.field-error[data-error-for="{path}"]'), path
    assert "Frågan avvisades: 3 fel" in pg.inner_text("#contact-general-errors")
    shown = " ".join(pg.locator(".field-error").all_inner_texts())
    assert "20150312" not in shown and "19121212" not in shown


# ---- issue 24 item 6: the national page -----------------------------------------------------------------

@pytest.fixture(scope="module")
def national(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], Path]]:
    """A real server with access control on and the simulated country of docs/national.md as its store:
    a key with the role national and one without it."""
    from api import auth
    from classifier.cli import main
    from classifier.national.simulate import simulate

    d = tmp_path_factory.mktemp("national")
    simulate(d / "country", 1, months=11, scale=0.1)
    store = str(d / "country" / "national.duckdb")
    assert main(["national", "ingest", "--store", store, "--manifest", str(d / "country" / "manifest.csv")]) == 2
    path = d / "auth.yaml"
    keys = {name: auth.add_key(path, name, roles) for name, roles in (("socialstyrelsen", ["national"]),
                                                                      ("clinic", ["classify"]))}
    with running_server(d / "server.log", args=["--auth-file", str(path)],
                        env={**os.environ, "BUP_NATIONAL_STORE": store}) as base:
        yield base, keys, d / "country"


AS_OF = {"year": "2026", "as_of": "2026-07-31"}


def national_api(base: str, key: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(base + path, params=params, headers={"Authorization": f"Bearer {key}"}, timeout=60)


def open_national(browser: Browser, base: str, key: str, country: Path, width: int = 1300,
                  shares: bool = True) -> tuple[Page, Console]:
    """The page as a Socialstyrelsen analyst opens it: the year and day, the shares, Visa, then the key it asks for."""
    pg = browser.new_context(viewport={"width": width, "height": 1000}, accept_downloads=True).new_page()
    console = Console(pg)
    pg.goto(f"{base}/workbench/national?year=2026&as_of=2026-07-31")
    pg.wait_for_selector("body[data-ready=true]")
    if shares:
        pg.set_input_files("#shares", str(country / "shares.csv"))
        pg.set_input_files("#population", str(country / "population.csv"))
    pg.click("#show")
    pg.wait_for_selector("#key-form:not([hidden])")
    pg.fill("#api-key", key)
    pg.press("#api-key", "Enter")
    pg.wait_for_selector("#matrix, #out .general-errors")
    settled(pg)
    return pg, console


def asked_for_key(console: Console) -> list[str]:
    """The console's errors but the browser's own line for the first call's 401 (the page then asks for the key)."""
    return [e for e in console.unexpected() if "status of 401" not in e]


def kr(ore: int) -> str:
    return f"{ore // 100:,}".replace(",", " ") + f",{ore % 100:02d}"


@pytest.mark.parametrize("width", WIDTHS)
def test_20_the_national_page_shows_what_the_api_answers(browser: Browser, national: Any, width: int) -> None:
    base, keys, country = national
    pg, console = open_national(browser, base, keys["socialstyrelsen"], country, width)
    status = national_api(base, keys["socialstyrelsen"], "/v1/national/status", **AS_OF).json()
    # the matrix: every cell's two states are the API's, in the API's Swedish words
    shown = pg.locator("#matrix button.cell span.state").evaluate_all(
        "ns => ns.map(n => [n.closest('button').dataset.region, n.closest('button').dataset.month, n.dataset.slot, "
        "n.dataset.state, n.textContent])")
    want = [[r["region"], m["month"], slot, m[slot]["state"],
             status["words_sv"][m[slot]["state"]] + (" +" if m[slot]["supplemented"] else "")]
            for r in status["regions"] for m in r["months"] for slot in ("completed", "waiting")]
    assert shown == want
    totals = ", ".join(f"{status['words_sv'][k]}: {n}" for k, n in status["totals"].items())
    assert pg.inner_text("#totals") == totals + "."
    # the money: the August payout per region, to the öre, as the assessment endpoint answers it
    body = {"year": 2026, "cutoff": "2026-07-31",
            "shares": {r["region"]: r["share"] for r in csv_rows(country / "shares.csv")},
            "population": csv_rows(country / "population.csv")}
    a = httpx.post(base + "/v1/national/assessment", json=body, timeout=60,
                   headers={"Authorization": f"Bearer {keys['socialstyrelsen']}"}).json()
    august = a["money"]["payouts"][0]
    cells = pg.locator(f'table[data-payout="{august["payout"]}"] tbody tr').evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert cells[:-1] == [[r["region"], kr(r["paid_ore"]), kr(r["held_ore"]), kr(r["to_bonus_ore"]), kr(r["bonus_ore"]),
                           kr(r["total_ore"])] for r in august["regions"]]
    assert cells[-1][0] == "Riket" and cells[-1][1] == kr(august["paid_ore"])
    assert "Region Sörmland 2026-06" in pg.inner_text("#not-reported")  # a month never delivered: held
    block = pg.locator("table[data-block-one] tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert block == [[r["region"], str(r["population_0_18"]), kr(r["total_ore"])] for r in a["block_one"]["regions"]]
    # the open notices: none recorded yet, but the regions with something missing as of the day are counted
    due = national_api(base, keys["socialstyrelsen"], "/v1/national/notices", **AS_OF).json()
    assert f"hos {len(due)} regioner" in pg.inner_text("#notices-box")
    # the statistics table: Riket's rows as the API answers them
    stats = national_api(base, keys["socialstyrelsen"], "/v1/national/statistics", **AS_OF).json()
    riket = [r for r in stats["rows"] if r["region"] == "Riket"]
    shown = pg.locator("#stats tbody tr").evaluate_all("rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert len(shown) == len(riket) and shown[0][:3] == [riket[0]["month"], stats["slots"]["completed"],
                                                           stats["areas"]["first_visit"]]
    assert shown[0][4] == str(riket[0]["total"])
    assert_reads_well(pg, "national")
    assert axe_violations(pg) == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"national_{width}px.png"), full_page=width < 1300)
    pg.context.close()
    assert asked_for_key(console) == []


def csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    lines = [x for x in path.read_text(encoding="utf-8").splitlines() if x.strip() and not x.startswith("#")]
    return list(csv.DictReader(lines))


def test_21_a_region_month_drills_down_to_its_versions_and_the_checks_findings(browser: Browser, national: Any) -> None:
    base, keys, country = national
    pg, console = open_national(browser, base, keys["socialstyrelsen"], country, shares=False)
    # Västernorrland's January: an invalid completed file, corrected by a supplement in August (after the day)
    pg.click('button.cell[data-region="Region Västernorrland"][data-month="2026-01"]')
    pg.wait_for_selector("#drill table.refused")
    settled(pg)
    listing = national_api(base, keys["socialstyrelsen"], "/v1/national/deliveries",
                           region="Region Västernorrland", month="2026-01").json()
    (refused,) = listing["refused_files"]
    problems = pg.locator("#drill table.refused tbody tr").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert problems == [[p["at"], p["column"] or "–", p["message_sv"]] for p in refused["problems"]]
    shown = pg.locator("#versions tbody tr").evaluate_all("rows => rows.map(r => [...r.cells].map(c => c.textContent))")
    assert [v[0] for v in shown] == [str(d["delivery_id"]) for d in listing["deliveries"]]
    status = national_api(base, keys["socialstyrelsen"], "/v1/national/status", **AS_OF).json()
    cell = next(r for r in status["regions"] if r["region"] == "Region Västernorrland")["months"][0]
    assert cell["completed"]["state"] == "invalid"  # as of 31 July; its supplement came on 12 August
    later = next(v for v in shown if v[1] == "Genomförda")
    assert later[6:] == ["lagrad senare", "gäller"]
    # the rows per unit of each delivery in force on the day, counted from the rows the API gives back
    in_force = {cell[s]["current"] for s in ("completed", "waiting")} - {None}
    assert in_force and set(pg.locator("table[data-delivery]").evaluate_all(
        "ts => ts.map(t => Number(t.dataset.delivery))")) == in_force
    for d in in_force:
        rows = national_api(base, keys["socialstyrelsen"], f"/v1/national/deliveries/{d}").json()["rows"]
        units = pg.locator(f'table[data-delivery="{d}"] tbody tr').evaluate_all(
            "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
        assert sorted(units) == sorted([u, str(sum(x["Enhet"] == u for x in rows))] for u in {x["Enhet"] for x in rows})
    assert pg.locator("#drill-figures tbody tr").count() == 6  # two files × three measurement points
    assert axe_violations(pg) == []
    pg.locator("#drill").screenshot(path=str(ARTIFACTS / "national_drill.png"))
    pg.context.close()
    assert asked_for_key(console) == []


def test_22_the_statistics_download_as_csv_and_excel_are_the_apis(browser: Browser, national: Any,
                                                                  tmp_path: Path) -> None:
    from python_calamine import CalamineWorkbook

    base, keys, country = national
    pg, console = open_national(browser, base, keys["socialstyrelsen"], country, shares=False)
    with pg.expect_download() as dl:
        pg.click("#download-csv")
    dl.value.save_as(str(tmp_path / "t.csv"))
    api_csv = national_api(base, keys["socialstyrelsen"], "/v1/national/statistics", **AS_OF, format="csv")
    assert (tmp_path / "t.csv").read_bytes() == api_csv.content
    assert dl.value.suggested_filename == "bup-statistik-2026-per-2026-07-31.csv"
    with pg.expect_download() as dl:
        pg.click("#download-xlsx")
    dl.value.save_as(str(tmp_path / "t.xlsx"))
    api_xlsx = national_api(base, keys["socialstyrelsen"], "/v1/national/statistics", **AS_OF, format="xlsx")
    (tmp_path / "api.xlsx").write_bytes(api_xlsx.content)

    def sheet(p: Path) -> list[list[Any]]:
        return CalamineWorkbook.from_path(str(p)).get_sheet_by_index(0).to_python()

    assert sheet(tmp_path / "t.xlsx") == sheet(tmp_path / "api.xlsx")
    pg.context.close()
    assert asked_for_key(console) == []


def test_23_a_key_without_the_national_role_is_told_so(browser: Browser, national: Any) -> None:
    base, keys, country = national
    pg, console = open_national(browser, base, keys["clinic"], country, shares=False)
    assert "rollen national" in pg.inner_text("#out .general-errors")
    assert pg.locator("#matrix").count() == 0
    pg.context.close()
    assert [e for e in asked_for_key(console) if "status of 403" not in e] == []


def test_24_the_national_page_prints(browser: Browser, national: Any) -> None:
    base, keys, country = national
    pg, console = open_national(browser, base, keys["socialstyrelsen"], country)
    pg.emulate_media(media="print")
    assert pg.locator("header").is_hidden() and pg.locator("#intro").is_hidden()
    assert pg.locator("#stats-box .actions").is_hidden()
    assert pg.locator("#matrix").is_visible()
    pdf = pg.pdf(format="A4")
    (ARTIFACTS / "national_print.pdf").write_bytes(pdf)
    assert 1 <= pdf_pages(pdf) <= 10  # landscape A4: the matrix, the notices, the money table, the statistics
    pg.context.close()
    assert asked_for_key(console) == []
