"""OpenAPI texts and worked examples, computed from the real classifier at start-up."""

from __future__ import annotations

import importlib.util
import math
import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from classifier import Classifier, InputError, errors, examples
from classifier.models import MAX_BATCH, ErrorItem
from classifier.reporting import money, records, report
from classifier.reporting.figures import AGGREGATED_PROXY, NATION, RECEIVED_IN_MONTH
from classifier.resources import data_dir

DESCRIPTION = """
Classifies child and adolescent psychiatry (BUP) care contacts for the national wait-time
follow-up of the 2025–2026 agreement: the contact type (first visit, investigation,
treatment, return visit, acute, or outside the model), whether it is a measurement point,
the wait with numerator/denominator membership, and the single rule that fired with its
source in SKR's definitions document, the facts it used and the rule set's content hash.

The service needs no identity: values that look like Swedish personal identity or
coordination numbers are rejected. Unknown fields are rejected. Every error lists each
problem with its JSON path and what was expected.
"""


class ErrorResponse(BaseModel):
    """Every refused request (4xx, 5xx): a summary and each problem."""

    detail: str = Field(description="A one-line summary, e.g. 'invalid request: 3 problem(s)'.")
    errors: list[ErrorItem] = Field(description="Every problem found, each with its JSON path.")


ERROR_EXAMPLE = {
    "detail": "invalid request: 3 problem(s)",
    "errors": [
        {"path": "contact.date", "message": "expected a real calendar date as 'YYYY-MM-DD', got '2026-02-30'",
         "message_sv": "ska vara ett verkligt datum som 'ÅÅÅÅ-MM-DD', skickat: '2026-02-30'", "type": "value_error"},
        {"path": "contact.setting", "message": "expected one of 'bup', 'evi', got 'BUP'",
         "message_sv": "ska vara ett av 'bup', 'evi', skickat: 'BUP'", "type": "literal_error"},
        {"path": "patient.ref", "message": "looks like a Swedish personal identity or coordination number; "
         "send a pseudonymous reference instead (the service needs no identity)",
         "message_sv": "ser ut som ett personnummer eller samordningsnummer; skicka en pseudonym referens i stället "
         "(tjänsten behöver ingen identitet)", "type": "value_error"},
    ],
}

BATCH_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["items"],
    "properties": {
        "items": {
            "type": "array", "minItems": 1, "maxItems": MAX_BATCH,
            "description": "Requests as for POST /v1/classify. Each item is validated on its own: an invalid "
                           "item gets {index, errors} in its place and the others are still answered.",
            # Any object is accepted at this level (the HTTP contract): a ClassifyRequest is answered,
            # anything else gets its error entry, so the item schema documents, not rejects.
            "items": {"anyOf": [{"$ref": "#/components/schemas/ClassifyRequest"}, {"type": "object"}]},
        }
    },
}

SHOWN = {
    "direct_start": "investigation/09_direct_start_scenario_b",
    "first_visit": "first_visit/01_new_referral_assessment_scenario_a",
    "return_visit": "investigation/02_second_contact_same_investigation",
    "refused": "investigation/10_direct_start_refused_parent_school_missing",
    "journey": "timeline/01_adhd_journey",
}


def worked_examples(clf: Classifier) -> dict[str, Any]:
    """Request and answer examples for every endpoint, from examples/ through the real classifier."""
    by_name = {e.name: e for e in examples.load()}
    picked = {key: by_name[name] for key, name in SHOWN.items()}
    single = {k: v for k, v in picked.items() if v.request is not None}
    classify = {k: {"summary": v.title, "value": v.request} for k, v in single.items()}
    batch_items = [single["first_visit"].request, single["return_visit"].request]
    journey = picked["journey"]
    return {
        "classify": classify,
        "classify_answer": clf.classify(single["direct_start"].request),
        "batch": {"two": {"summary": "Two independent contacts", "value": {"items": batch_items}}},
        "batch_answer": clf.classify_batch({"items": batch_items}),
        "timeline": {"journey": {"summary": journey.title, "value": journey.timeline}},
        "timeline_answer": clf.classify_timeline(journey.timeline),
        "ruleset": clf.ruleset.describe(),
        "report": {"small": {"summary": "One region, a month and its baseline", "value": REPORT_EXAMPLE}},
        "report_answer": monthly_report(REPORT_EXAMPLE),
    }


_DECIMAL_TEXT = re.compile(r"[0-9]{1,3}(\.[0-9]{1,40})?")


def _exact_share(v: Any) -> Any:
    """A share as an exact Decimal: a decimal string as written, a JSON number by its shortest repr (what the
    client most likely wrote), never a bool. Whether the shares sum to 1 decides the bonus pots, so a share is
    never summed as a float."""
    d = None
    if isinstance(v, str) and _DECIMAL_TEXT.fullmatch(v):
        d = Decimal(v)
    elif isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        d = Decimal(str(v))
    if d is None or not 0 <= d <= 1:
        raise ValueError('expected a share from 0 to 1: a number, or a decimal string such as "0.0523"')
    return d


class MonthlyReportRequest(BaseModel):
    """POST /v1/reports/monthly: the records of `bup-classifier report`, as JSON (examples/reports/README.md)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    year: int = Field(ge=2024, le=2100, description="The agreement year; last year's months are the baseline.")
    completed: list[dict[str, Any]] = Field(default_factory=list, max_length=2_000_000,
                                            description="Classified contacts with region, unit and date.")
    waiting: list[dict[str, Any]] = Field(default_factory=list, max_length=2_000_000,
                                          description="Month-end waiting lists, one patient per record.")
    counts: list[dict[str, Any]] = Field(default_factory=list, max_length=100_000,
                                         description="Already aggregated monthly counts.")
    shares: dict[str, Annotated[Decimal, BeforeValidator(_exact_share)]] = Field(
        description="Each region's share (0–1) of the national pots; they may not sum above 1, and the bonus pots "
                    "are whole only when they sum to exactly 1. A JSON number is read as a binary double (about 15 "
                    "significant digits); send a decimal string (\"0.0523\") to give a share exactly.")
    final: bool = Field(False, description="The year's reporting is declared final: money held for months not "
                                           "reported is settled (target not met, to the bonus pot).")
    publish: bool = Field(False, description="Figures for publication: counts of 1–4 contacts are null, named in "
                                             "the row's `suppressed` list, with every share derived from them.")
    population: dict[str, Annotated[int, Field(ge=0)]] | None = Field(
        None, description="Block one: each region's population aged 0–18 (official statistics), {region: whole "
                          "number ≥ 0}; every name one of the 21 regions (rules/regions.yaml). Without it there is "
                          "no block-one figure; while any of the 21 is missing, each region's part by population "
                          "is null and the answer says why (docs/money.md §5).")


# ---- the answers of POST /v1/reports/monthly and POST /v1/months, as they are today ---------------
# Every part closed (extra="forbid"): tests/test_api.py validates real answers against these models,
# so a field added to the answer without its description here fails there.

_AREA = "The area (område): 'first_visit', 'investigation' or 'treatment'."
_MONTH = "The month, 'YYYY-MM'."
_MSEK = "The same amount in MSEK (mnkr), for reading; the öre field is exact."
_SUPPRESSED = "With publish: the fields of 1–4 contacts left out (null), and every share or sum derived from them."


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FigureCounts(_Answer):
    """A month's counts for one area (the national follow-up's figures)."""

    numerator: int | None = Field(description="Completed within the limit, exclusions applied (täljare).")
    denominator: int | None = Field(description="Completed, exclusions applied (nämnare).")
    completed_all: int | None = Field(description="Every completed measurement point, exclusions not applied (the "
                                                  "queue target counts these).")
    waiting: int | None = Field(description="Patients waiting at the month's end (väntande).")
    waiting_le30: int | None = Field(description="Of them, waiting at most 30 days.")
    new_on_list: int | None = Field(description="First visit: patients new on the waiting list (nytillkomna på "
                                                "väntelistan), waiting at the month's end with the care request "
                                                "received in the month (or as aggregated counts gave it).")
    direct_starts: int | None = Field(description="First visit: waits ended by a direct start (direktstart, N2/N4) "
                                                  "in the month, counted beside the queue ratio since a direct start "
                                                  "is no completed first visit; 0 in the other areas; null when "
                                                  "published and 1–4.")
    share_within_30: float | None = Field(description="numerator / denominator in per cent (andel inom 30 dagar), "
                                                      "one decimal half up; null without a denominator.")
    waiting_share_le30: float | None = Field(description="waiting_le30 / waiting in per cent; null when nobody waits.")
    suppressed: list[str] | str | None = Field(None, description=_SUPPRESSED)


class FigureRow(FigureCounts):
    """One row of the report's figures: a unit, a region or the nation, an area and a month."""

    level: str = Field(description="'unit', 'region' or 'nation'.")
    region: str | None = Field(None, description=f"The region (region); '{NATION}' on the nation's rows.")
    unit: str | None = Field(None, description="The unit (enhet); the region's name on region rows, "
                                               f"'{NATION}' on the nation's.")
    area: str = Field(description=_AREA)
    month: str = Field(description=_MONTH)


class WithoutWaitStart(_Answer):
    """A measurement point whose wait could not start (no received or decision date): not counted."""

    event_id: str | None = Field(None, description="The month's extract: the row's event id.")
    source: str | None = Field(None, description="A report's input: the records it came from ('completed' or the "
                                                 "file's name).")
    line: int | None = Field(None, description="A report's input from a file: the record's line.")
    index: int | None = Field(None, description="A report's input as a list: the record's index (from 0).")
    region: str = Field(description="Its region.")
    unit: str | None = Field(None, description="Its unit.")
    area: str = Field(description=_AREA)
    month: str = Field(description=_MONTH)
    count: int | None = Field(None, description="With publish: how many in the unit, area and month (null when "
                                                "1–4); the records are then not listed one by one.")
    suppressed: list[str] | None = Field(None, description="With publish: ['count'] when the count is 1–4.")


class NotReported(_Answer):
    """A month of an area a region has not reported (its money is held)."""

    region: str = Field(description="The region.")
    area: str = Field(description=_AREA)
    month: str = Field(description=_MONTH)


class Words(_Answer):
    """A status or a reason in Swedish and English (rules/agreement.yaml `words`)."""

    code: str = Field(description="Its key, e.g. 'reported', 'nothing_completed', 'alternative_two_completed_failed'.")
    sv: str = Field(description="In Swedish, numbers in Swedish format.")
    en: str = Field(description="In English.")


class NextTier(_Answer):
    """The next tier of alternative one (förbättring mot föregående år) and how many patients it takes."""

    tier: str = Field(description="The tier's label (nivå), as in rules/agreement.yaml.")
    pays: float = Field(description="The fraction of the pot it pays.")
    patients_more_within_30_days: int = Field(description="More patients within 30 days needed to reach it, by "
                                                          "SKR's convention (reproduces SKR's monthly report).")
    patients_more_strict: int | None = Field(description="The fewest more patients that reach it by the tier rule "
                                                         "itself; null when it cannot be reached.")


class PotMoney(_Answer):
    """A pot (pott) of one region: where its money went, in whole öre (exact) and MSEK."""

    pot_ore: int = Field(description="The pot: the area's annual amount × the region's share, split over the "
                                     "measured months (or the queue periods), in öre.")
    pot_msek: float = Field(description=_MSEK)
    paid_ore: int | None = Field(description="Paid (utbetalt), in öre; null while a queue period is open.")
    paid_msek: float | None = Field(description=_MSEK)
    to_bonus_ore: int | None = Field(description="Not earned, to the bonus pot (till bonuspotten), in öre; null "
                                                 "while a queue period is open.")
    to_bonus_msek: float | None = Field(description=_MSEK)
    held_ore: int | None = Field(description="Held (innehållet) until the reporting is final: not reported, in öre; "
                                             "null while a queue period is open.")
    held_msek: float | None = Field(description=_MSEK)
    not_yet_due_ore: int = Field(description="Not yet due (a queue period not yet over), in öre.")
    not_yet_due_msek: float = Field(description=_MSEK)


class MoneyMonth(PotMoney):
    """One region's pot for an area and a measured month: what it paid, by which rule, and why not in full."""

    month: str = Field(description=_MONTH)
    area: str = Field(description=_AREA)
    payout: str = Field(description="The payout (utbetalning) that pays it, e.g. 'augusti', 'december'.")
    status: str = Field(description="'reported' (rapporterad), 'nothing_completed' (inget genomfört: neither "
                                    "alternative can be judged, the money goes to the bonus pot) or 'not_reported' "
                                    "(ej rapporterad: held until final, then target not met).")
    status_words: Words = Field(description="The status in words, Swedish and English.")
    rule: str | None = Field(description="The alternative that paid: 'alternative_one' (förbättring mot föregående "
                                         "år) or 'alternative_two' (minst 75 %); null when none did.")
    tier: str = Field(description="The tier reached (nivå) in Swedish, or why none was ('målet ej uppnått').")
    pays_fraction: float = Field(description="The fraction of the pot paid.")
    share_within_30: float | None = Field(description="The share completed within 30 days (andel inom 30 dagar), "
                                                      "in per cent, as SKR prints it.")
    waiting_share_le30: float | None = Field(description="The share of those waiting at month end who waited at "
                                                         "most 30 days, in per cent.")
    numerator: int | None = Field(description="Completed within 30 days (täljare).")
    denominator: int | None = Field(description="Completed (nämnare).")
    waiting: int | None = Field(description="Waiting at month end (väntande).")
    waiting_le30: int | None = Field(description="Of them, waiting at most 30 days.")
    nobody_waiting: bool | None = Field(description="Nobody waits at month end and the waits are known: the waiting "
                                                    "half of alternative two holds; null when not reported.")
    last_year_share_within_30: float | None = Field(description="The same month last year's share within 30 days "
                                                                "(föregående år), in per cent.")
    change_pp: float | None = Field(description="The change from last year's month in percentage points "
                                                "(%-enheter), as SKR prints the shares.")
    next_tier: NextTier | None = Field(description="The next tier of alternative one and the patients it takes; "
                                                   "null without last year's figures or at the top tier.")
    patients_to_75_percent: int | None = Field(description="More patients within 30 days needed for at least 75 % "
                                                           "exactly; null when reached.")
    why_not_met: list[Words] | None = Field(description="Why 'målet ej uppnått': each alternative that failed, by "
                                                        "how much and how many patients short; empty when paid in "
                                                        "full; null when suppressed.")
    note: str | None = Field(description="A note in Swedish, e.g. no figures for the same month last year.")
    suppressed: list[str] | None = Field(None, description=_SUPPRESSED)


class QueuePeriod(PotMoney):
    """The queue target (kömålet) over one period: completed first visits against new on the waiting list."""

    period: str = Field(description="The period's name, e.g. 'mars–juni', 'juli–november'.")
    months: list[str] = Field(description="Its months, 'YYYY-MM'.")
    payout: str = Field(description="The payout (utbetalning) that pays it.")
    new_on_list: int | None = Field(description="First visit: patients new on the waiting list (nytillkomna på "
                                                "väntelistan) in the period.")
    completed: int | None = Field(description="Completed first visits (genomförda första besök) in the period.")
    difference: int | None = Field(description="completed minus new_on_list.")
    direct_starts: int | None = Field(description="Direct starts (direktstart) in the period, counted beside the "
                                                  "ratio: a direct start is no completed first visit. "
                                                  "null when a month's direct starts are unknown.")
    direct_starts_unknown_months: list[str] = Field(description="The period's months whose direct starts were not "
                                                                "given (a national delivery's completed and "
                                                                "waiting files carry none): unknown, never 0.")
    completed_per_new_pct: float | None = Field(description="completed / new_on_list in per cent, one decimal; null "
                                                            "with no one new.")
    not_reported_months: list[str] = Field(description="The period's months with no first-visit figures.")
    figures_missing_months: list[str] = Field(description="The period's months reported without the queue's "
                                                          "figures (new on the list or every completed first "
                                                          "visit): unknown, never counted as 0.")
    why_not_met: list[Words] | None = Field(description="Why 'målet ej uppnått': how many first visits short; "
                                                        "null when suppressed.")
    status: str = Field(description="'reported', 'open' (the period is not over: not yet due), 'not_reported' "
                                    "(a month missing: held until final), 'figures_missing' (a month without the "
                                    "queue's figures: held until final) or 'no_new_on_list' (no one new: the ratio "
                                    "cannot be computed, to the bonus pot).")
    complete: bool = Field(description="The period is over in the data (or the reporting is final).")
    tier: str | None = Field(description="The tier reached (nivå) in Swedish, or why none was; null while open.")
    pays_fraction: float | None = Field(description="The fraction of the pot paid; null while open.")
    status_words: Words = Field(description="The status in words, Swedish and English.")
    note: str | None = Field(description="A note in Swedish, e.g. judged after the period's end.")
    suppressed: list[str] | None = Field(None, description=_SUPPRESSED)


class RegionBonus(_Answer):
    """A region's part of one bonus pot."""

    paid_for_requirements_ore: int = Field(description="The money paid to the region this year for the pot's "
                                                       "requirements, in öre: its weight in the pot.")
    paid_for_requirements_msek: float = Field(description=_MSEK)
    bonus_share: float = Field(description="Its share of the pot (0–1).")
    bonus_ore: int = Field(description="Its bonus from the pot, in öre.")
    bonus_msek: float = Field(description=_MSEK)
    partial: bool = Field(description="The pot is partial (regions missing or shares not summing to 1): never "
                                      "the region's money.")


class MoneyRegion(_Answer):
    """One region's money for the year."""

    region: str = Field(description="The region.")
    share: float = Field(description="Its share (0–1) of the national pots, as given.")
    months: list[MoneyMonth] = Field(description="Each area and reported month: status, tier, sum and rule.")
    queue: list[QueuePeriod] = Field(description="The queue target's periods (kömålet).")
    paid_ore: int = Field(description="Paid in the year (utbetalt), in öre.")
    paid_msek: float = Field(description=_MSEK)
    to_bonus_ore: int = Field(description="To the bonus pots, in öre.")
    to_bonus_msek: float = Field(description=_MSEK)
    held_ore: int = Field(description="Held (innehållet), not reported, in öre.")
    held_msek: float = Field(description=_MSEK)
    not_yet_due_ore: int = Field(description="Not yet due (months after the last reported, open periods), in öre.")
    not_yet_due_msek: float = Field(description=_MSEK)
    bonus: dict[str, RegionBonus] = Field(description="Its part of each bonus pot (wait_time, queue).")
    bonus_ore: int = Field(description="Its bonus from both pots, in öre.")
    bonus_msek: float = Field(description=_MSEK)
    bonus_partial: bool = Field(description="The bonus pots are partial: the bonus is not the region's money.")


class Coverage(_Answer):
    """Whether the input covers all 21 regions with shares summing to 1; else every bonus figure is partial."""

    partial: bool = Field(description="Regions missing, unknown or shares not summing to exactly 1.")
    missing_regions: list[str] = Field(description="The regions of rules/regions.yaml missing from the input.")
    unknown_regions: list[str] = Field(description="Region names in the input that are not among the 21.")
    shares_sum: float = Field(description="The sum of the shares given.")
    shares_sum_is_one: bool = Field(description="The shares sum to exactly 1.")
    sv: str = Field(description="What is missing, in Swedish (empty when complete).")
    en: str = Field(description="What is missing, in English (empty when complete).")


class BonusPot(_Answer):
    """A bonus pot (bonuspott): money not earned, shared at year end over all 21 regions."""

    label_sv: str = Field(description="Its name in Swedish, as in the agreement.")
    areas: list[str] = Field(description="The areas whose unpaid money goes to it.")
    pot_ore: int = Field(description="What went to it, in öre.")
    pot_msek: float = Field(description=_MSEK)
    paid_for_requirements_ore: int = Field(description="The money paid for its requirements, in öre: the weights "
                                                       "it is shared by.")
    paid_for_requirements_msek: float = Field(description=_MSEK)
    undistributed_ore: int = Field(description="Not shared: no region earned anything towards it, in öre.")
    undistributed_msek: float = Field(description=_MSEK)
    provisional: bool = Field(description="Preliminary (preliminär): the reporting is not final.")
    partial: bool = Field(description="Partial (ofullständig): regions missing or shares not summing to 1.")
    missing_regions: list[str] = Field(description="The regions missing from the input.")
    rule: str = Field(description="How it is shared, in English.")


class PayoutSums(_Answer):
    """A payout's sums, in whole öre (exact) and MSEK."""

    paid_ore: int = Field(description="Paid for the payout's months and queue periods (utbetalt), in öre.")
    paid_msek: float = Field(description=_MSEK)
    held_ore: int = Field(description="Held (innehållet), in öre.")
    held_msek: float = Field(description=_MSEK)
    to_bonus_ore: int = Field(description="To the bonus pots, in öre.")
    to_bonus_msek: float = Field(description=_MSEK)
    bonus_ore: int = Field(description="Bonus from the pots (only in the payout that pays them), in öre.")
    bonus_msek: float = Field(description=_MSEK)
    total_ore: int = Field(description="paid + bonus, in öre; a partial bonus is never added.")
    total_msek: float = Field(description=_MSEK)


class PayoutRegion(PayoutSums):
    """One region's sums in a payout."""

    region: str = Field(description="The region.")


class Payout(PayoutSums):
    """One payout (utbetalning, rekvisition av medel): its months and sums per region and in all."""

    payout: str = Field(description="Its name, e.g. 'augusti', 'december'.")
    months: list[str] = Field(description="The months it pays, 'YYYY-MM'.")
    pays_bonus_pots: bool = Field(description="It pays the bonus pots (December).")
    bonus_provisional: bool = Field(description="Its bonus is preliminary: the reporting is not final.")
    bonus_partial: bool = Field(description="Its bonus is partial and not in the totals.")
    regions: list[PayoutRegion] = Field(description="Per region.")


class BlockOneRegion(_Answer):
    """A region's block-one money: the base and its part by population."""

    region: str = Field(description="The region.")
    population_0_18: int | None = Field(description="Its population aged 0–18 (befolkning 0–18 år), as given; "
                                                     "null when it is missing.")
    base_ore: int = Field(description="The base every region gets, in öre (needs no population).")
    base_msek: float = Field(description=_MSEK)
    by_population_ore: int | None = Field(description="Its part of the rest by population, in öre; null while the "
                                                      "population of any of the 21 regions is missing (never "
                                                      "guessed).")
    by_population_msek: float | None = Field(description=_MSEK)
    total_ore: int | None = Field(description="base + by population, in öre; null when the part by population is.")
    total_msek: float | None = Field(description=_MSEK)


class BlockOne(_Answer):
    """Block one (Block ett: Utvecklingsarbete): a base per region, the rest by the population aged 0–18."""

    label_sv: str = Field(description="Its name in Swedish, as in the agreement.")
    status: str = Field(description="'complete'; 'partial' (a region's population missing, or a name not among "
                                    "the 21: the part by population is null for every region, only the base is "
                                    "given); 'population_zero' (the population sums to 0: likewise); "
                                    "'no_population' (no population given: no figure) or 'not_in_agreement' (none "
                                    "that year).")
    regions: list[BlockOneRegion] = Field(description="Each of the 21 regions; empty without a population.")
    note_sv: str | None = Field(description="Why there is no figure, or why the part by population is not "
                                            "computed, in Swedish.")
    note_en: str | None = Field(description="The same in English.")
    annual_msek: float | None = Field(None, description="The year's amount in MSEK; absent when not in the "
                                                        "agreement.")
    base_msek: float | None = Field(None, description="The base per region in MSEK; only with a population.")
    rest_msek: float | None = Field(None, description="The rest, divided by population, in MSEK; only with a "
                                                      "population.")
    partial: bool | None = Field(None, description="Regions are missing from the population; only with one.")
    by_population_computed: bool | None = Field(None, description="The part by population was computed (the "
                                                                  "population of all 21 regions given, summing "
                                                                  "above 0); only with a population.")
    distributed_ore: int | None = Field(None, description="The regions' totals summed: the year's amount to the "
                                                          "öre; null when the part by population is not computed.")
    missing_regions: list[str] | None = Field(None, description="The regions without a population; only with one.")
    unknown_regions: list[str] | None = Field(None, description="Names in the population that are not among the "
                                                                "21; only with one.")


class Conservation(_Answer):
    """Money is conserved: paid + held + not yet due + bonus shared + undistributed = the pots, to the öre."""

    expected_ore: int = Field(description="The areas' annual amounts × the shares given, in öre.")
    paid_ore: int = Field(description="Paid (utbetalt), in öre.")
    held_ore: int = Field(description="Held (innehållet), in öre.")
    not_yet_due_ore: int = Field(description="Not yet due, in öre.")
    bonus_shared_ore: int = Field(description="Shared from the bonus pots, in öre.")
    undistributed_ore: int = Field(description="In bonus pots no region earned towards, in öre.")
    balanced: bool = Field(description="The parts sum to expected_ore exactly.")


class Money(_Answer):
    """The agreement's money for the year (docs/money.md), computed by classifier/reporting/money.py."""

    year: int = Field(description="The agreement year.")
    agreement_sha256: str = Field(description="SHA-256 of rules/agreement.yaml, the terms the sums come from.")
    final: bool = Field(description="The year's reporting is declared final.")
    reported_through: str | None = Field(description="The last month with reported figures, 'YYYY-MM'.")
    regions: list[MoneyRegion] = Field(description="Per region: each month's and queue period's money, the totals "
                                                   "and its bonus.")
    not_reported: list[NotReported] = Field(description="Months not reported, per region and area.")
    coverage: Coverage = Field(description="Whether the input covers all 21 regions (else the bonus is partial).")
    bonus_pots: dict[str, BonusPot] = Field(description="The bonus pots (bonuspotter): 'wait_time' and 'queue'.")
    payouts: list[Payout] = Field(description="Each payout (utbetalning), August and December.")
    block_one: BlockOne = Field(description="Block one (Block ett: Utvecklingsarbete).")
    conservation: Conservation = Field(description="The check that every öre is accounted for.")
    note: str | None = Field(None, description="Only for a year the agreement measures no month in: says so.")


class MonthlyReport(_Answer):
    """The answer of POST /v1/reports/monthly: what `bup-classifier report --json` prints."""

    year: int = Field(description="The agreement year.")
    final: bool = Field(description="As sent: the year's reporting is declared final.")
    published: bool = Field(description="As sent (publish): counts of 1–4 are suppressed.")
    skipped_records: int = Field(description="Records that were not measurement points and so not counted.")
    rulesets: list[dict[str, Any]] = Field(default_factory=list, description="The rule sets (regelverk) whose wait "
                                           "limit and exclusion codes counted the months, each month by the set valid "
                                           "at its end (docs/rulesets.md §3).")
    figures: list[FigureRow] = Field(description="The figures per unit, region and nation, area and month.")
    without_wait_start: list[WithoutWaitStart] = Field(description="Measurement points without a wait start.")
    regions_without_share: list[str] = Field(description="Regions in the data without a share of the pots.")
    new_on_list_basis: list[str] = Field(description="How new on the list (nytillkomna på väntelistan) was counted: "
                                                     f"'{RECEIVED_IN_MONTH}' (from each wait) and/or "
                                                     f"'{AGGREGATED_PROXY}' (aggregated counts: SKR's "
                                                     "proxy).")
    money: Money = Field(description="The agreement's money.")
    not_reported: list[NotReported] = Field(description="Months not reported (as in money.not_reported).")


class AuditTotals(_Answer):
    """The extract's totals over the audited months."""

    patients: int = Field(description="Patients in the extract.")
    contacts_in_months: int = Field(description="Contacts dated in the audited months.")
    measurement_points: int = Field(description="Of them, measurement points (mätpunkter) by the rules.")
    registered_compared: int = Field(description="Contacts whose registered contact type could be compared.")
    disagreements: int = Field(description="Of them, registered otherwise than the rules say (avvikelser).")
    waiting_at_month_end: int = Field(description="Patients waiting at the last month's end.")
    rejected_rows: int = Field(description="Rows that could not be read (see findings, kind rejected_row).")


class AuditFigures(_Answer):
    """A month and area, counted as registered and as the rules say."""

    month: str = Field(description=_MONTH)
    area: str = Field(description=_AREA)
    as_registered: FigureCounts = Field(description="The counts with the registered contact types.")
    as_rules: FigureCounts = Field(description="The counts with the contact types the rules give.")
    difference_pp: float | None = Field(description="as_rules minus as_registered share, in percentage points.")


class MoneyAsCounted(_Answer):
    """A month's tier and sum, counted one way (null throughout when that way has no such month)."""

    status: str | None = Field(description="The month's money status: 'reported', 'nothing_completed' or "
                                           "'not_reported'.")
    status_words: Words | None = Field(description="The status in words, Swedish and English.")
    tier: str | None = Field(description="The tier reached (nivå) in Swedish.")
    rule: str | None = Field(description="The alternative that paid: 'alternative_one' or 'alternative_two'.")
    pays_fraction: float | None = Field(description="The fraction of the month's pot paid.")
    paid_msek: float | None = Field(description="Paid (utbetalt), in MSEK.")
    paid_ore: int | None = Field(description="Paid (utbetalt), in whole öre (exact).")
    share_within_30: float | None = Field(description="The share within 30 days (andel inom 30 dagar), in per cent.")
    change_pp: float | None = Field(description="Change from last year's month, in percentage points (%-enheter).")
    why_not_met: list[Words] | None = Field(description="Why 'målet ej uppnått': each alternative that failed, by "
                                                        "how much and how many patients short.")


class AuditMoney(_Answer):
    """A region's month and area: the money as the rules count and as registered."""

    region: str = Field(description="The region.")
    month: str = Field(description=_MONTH)
    area: str = Field(description=_AREA)
    as_rules: MoneyAsCounted = Field(description="Counted with the rules' contact types.")
    as_registered: MoneyAsCounted = Field(description="Counted with the registered contact types.")
    paid_difference_ore: int | None = Field(description="as_registered minus as_rules paid, in öre: what the "
                                                        "registrations that disagree do.")
    paid_difference_msek: float | None = Field(description=_MSEK)


class CostSums(_Answer):
    """"Vad kostar det?": the money of the run's months (and queue periods judged within them), both ways."""

    as_rules_ore: int = Field(description="Paid as the rules say (enligt reglerna), in öre.")
    as_rules_msek: float = Field(description=_MSEK)
    as_registered_ore: int = Field(description="Paid as registered (som registrerat), in öre; for a unit: its "
                                               "region with only this unit's registrations used.")
    as_registered_msek: float = Field(description=_MSEK)
    effect_ore: int = Field(description="as_registered minus as_rules (effekt av avvikande registreringar), in öre: "
                                        "a minus is money the disagreeing registrations would cost.")
    effect_msek: float = Field(description=_MSEK)


class Cost(CostSums):
    """A region's or a unit's cost of the registrations that disagree."""

    region: str = Field(description="The region.")
    unit: str | None = Field(description="The unit (enhet); null for the whole region.")


class Assumption(Words):
    """An assumption the money rests on (antagande), in Swedish and English, as audit.html states it."""

    code: str = Field(description="Which: 'no_shares_file' (each region 1/21), 'no_last_year' (alternative one not "
                                  "judged), 'partial_bonus_pots', 'new_on_list_proxy' (aggregated counts) or "
                                  "'no_population' (no block one).")


class AuditRegion(_Answer):
    """A region's figures and money, both ways."""

    region: str = Field(description="The region.")
    figures: list[AuditFigures] = Field(description="Its figures per month and area.")
    money: list[AuditMoney] = Field(description="Its money per month and area.")
    cost: Cost = Field(description="What its registrations that disagree do to its money (vad kostar det?).")


class Registrations(_Answer):
    """How a unit's registered contact types compare with the rules."""

    compared: int = Field(description="Contacts compared.")
    agree: int = Field(description="Registered as the rules say.")
    disagree: int = Field(description="Registered otherwise.")


class MatrixCell(_Answer):
    """One cell of the disagreement matrix: registered as one type, the rules say another."""

    registered: str = Field(description="The registered contact type (rules/tables/contact_types.yaml).")
    rules: str = Field(description="The contact type the rules give.")
    count: int | None = Field(description="How many contacts (null when suppressed).")
    rules_fired: dict[str, int] = Field(description="The rules that gave it, with how many contacts each.")
    contact_ids: list[str] = Field(description="The contacts' ids (a few, to look them up in the journal).")
    suppressed: list[str] | None = Field(None, description="With publish: the counts left out.")


class Finding(_Answer):
    """A data-quality finding (fynd); its kind's Swedish text is in GET /workbench/library (findings)."""

    kind: str = Field(description="What was found, e.g. 'duplicate_id', 'rejected_row'.")
    region: str | None = Field(description="The region, when known.")
    unit: str | None = Field(description="The unit, when known.")
    month: str | None = Field(description="The month, when it belongs to one.")
    event_ids: list[str] = Field(description="The events it is about.")
    detail: str = Field(description="What exactly, in English (column and what was expected).")
    detail_sv: str | None = Field(None, description="For a rejected row: the same in Swedish (rejected.csv's "
                                                    "problem_sv).")
    file: str | None = Field(None, description="For a rejected row: the file.")
    row: int | None = Field(None, description="For a rejected row: its line in the file.")


class AuditUnit(_Answer):
    """A unit's section of the audit."""

    region: str = Field(description="The region.")
    unit: str = Field(description="The unit (enhet).")
    registrations: Registrations = Field(description="Its registrations against the rules.")
    figures: list[AuditFigures] = Field(description="Its figures per month and area.")
    matrix: list[MatrixCell] = Field(description="Its disagreements, largest first.")
    cost: CostSums | None = Field(description="What its registrations that disagree do to its region's money; null "
                                              "when none disagree.")
    findings: list[Finding] = Field(description="Its data-quality findings.")


class MonthAudit(_Answer):
    """The answer of POST /v1/months: the content of audit.json (docs/month.md §4)."""

    months: list[str] = Field(description="The audited months, 'YYYY-MM'.")
    ruleset: dict[str, str] = Field(description="The held rule set valid at the period's end (name, version, sha256, "
                                    "status).")
    rulesets: list[dict[str, Any]] = Field(description="Every rule set (regelverk) the month used, each with name, "
                                           "version, sha256, status, valid_from and the contacts it classified "
                                           "(docs/rulesets.md §3).")
    published: bool = Field(description="As sent (publish): counts of 1–4 are suppressed.")
    totals: AuditTotals = Field(description="The totals.")
    regions: list[AuditRegion] = Field(description="Per region.")
    units: list[AuditUnit] = Field(description="Per unit.")
    finding_counts: dict[str, int] = Field(description="How many findings of each kind.")
    findings: list[Finding] = Field(description="Every finding, rejected rows last.")
    money_note: str = Field(description="How the shares of the pots were taken (e.g. 1/21 each without a file).")
    cost: list[Cost] = Field(description="Vad kostar det?: per region, then per unit with disagreeing registrations.")
    assumptions: list[Assumption] = Field(description="Every assumption the money rests on, in Swedish and English.")
    bonus_pots_partial: bool = Field(description="The bonus pots are partial (a region alone always is): never "
                                                 "shown as the region's money.")
    missing_regions: list[str] = Field(description="The regions missing for the bonus pots to be complete.")
    block_one: BlockOne = Field(description="Block one (Block ett: Utvecklingsarbete) for the year.")
    report: MonthlyReport = Field(description="The months as the rules count them, as POST /v1/reports/monthly "
                                              "answers.")


def monthly_report(payload: object) -> dict[str, Any]:
    """Validate and build a monthly report; every bad record is a 422 naming the record and field."""
    req = errors.parse(MonthlyReportRequest, payload)
    known = set(money.national_regions())  # block one is over the 21 regions: another name is refused, not guessed
    unknown = [{"path": f"population.{name}", "message": "expected one of the 21 regions (rules/regions.yaml)",
                "message_sv": "en av de 21 regionerna (rules/regions.yaml) väntades", "type": "unknown_region"}
               for name in req.population or {} if name not in known]
    if unknown:
        raise InputError(unknown)
    try:
        return report.monthly_report(
            req.year, shares=records.Source("shares", [{"region": r, "share": v} for r, v in req.shares.items()]),
            completed=req.completed, waiting=req.waiting, counts=req.counts, final=req.final, publish=req.publish,
            population=req.population)
    except records.ReportInputError as exc:
        raise InputError(exc.items()) from None


REPORT_EXAMPLE = {
    "year": 2025,
    "completed": [
        {"region": "Region Nord", "unit": "BUP Nord 1", "date": "2025-03-12", "contact_type": "first_visit",
         "in_numerator": True, "in_denominator": True},
        {"region": "Region Nord", "unit": "BUP Nord 1", "date": "2024-03-20", "contact_type": "first_visit",
         "in_numerator": False, "in_denominator": True},
    ],
    "waiting": [{"region": "Region Nord", "unit": "BUP Nord 1", "month": "2025-03", "area": "first_visit",
                 "wait_start": "2025-03-10"}],
    "shares": {"Region Nord": 0.052},
    "final": False,
    "publish": False,
}


# ---- /docs without the internet, and the project's own account of the definitions ----------

DOCS_DIR = data_dir("docs")
# Swagger UI 5 and ReDoc as the fastapi-offline package ships them (MIT; its LICENSE is in its dist-info)
SWAGGER_DIR = Path(importlib.util.find_spec("fastapi_offline").origin or "").parent / "static"
_DOC_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SECTION = re.compile(r"^(\d+(?:\.\d+)?)\.?\s")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} – bup-classifier</title><link rel="icon" href="data:,">
<style>body{{font:16px/1.55 system-ui,sans-serif;max-width:52rem;margin:0 auto;padding:1rem;color:#1d2530}}
table{{border-collapse:collapse;display:block;overflow-x:auto}}td,th{{border:1px solid #d5dbe3;padding:.25rem .5rem;
vertical-align:top}}code{{background:#f1f3f6;padding:0 .2rem}}pre{{overflow-x:auto}}h2,h3{{scroll-margin-top:1rem}}
:target{{background:#fff6e0}}a{{color:#1f5fa8}}</style></head>
<body><p><a href="/">← arbetsbänken / the workbench</a> · <a href="/docs/{name}.md">markdown</a></p>
{body}</body></html>"""


@lru_cache(maxsize=8)
def _markdown() -> MarkdownIt:
    # GitHub's heading anchors (docs/README.md lists them; rule sources cite them)
    return MarkdownIt("commonmark", {"html": False}).enable("table").use(anchors_plugin, max_level=4)


def _doc_path(name: str) -> Path:
    path = DOCS_DIR / f"{name}.md"
    if not _DOC_NAME.fullmatch(name) or not path.is_file():
        raise HTTPException(404, f"no document {name!r} under docs/")
    return path


@lru_cache(maxsize=8)
def render_doc(name: str) -> str:
    """A document under docs/ as one HTML page, with an id on every heading (GitHub's anchors)."""
    path = _doc_path(name)
    text = path.read_text(encoding="utf-8")
    title = next((line.lstrip("# ") for line in text.splitlines() if line.startswith("# ")), name)
    body = _markdown().render(text).replace('href="definitions.md#', 'href="/docs/definitions#')
    return _PAGE.format(title=title, name=name, body=body)


@lru_cache(maxsize=1)
def definition_anchors() -> dict[str, str]:
    """Section number ("6.3") -> heading anchor of docs/definitions.md, for links from a rule's source."""
    tokens = _markdown().parse(_doc_path("definitions").read_text(encoding="utf-8"))
    out = {}
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open" and tok.attrs.get("id"):
            m = _SECTION.match(tokens[i + 1].content)
            if m:
                out[m.group(1)] = str(tok.attrs["id"])
    return out


@lru_cache(maxsize=1)
def _redoc_js() -> bytes:
    """Redoc's script with its one outside address (Redocly's logo, fetched from a CDN) pointed at our favicon."""
    text = (SWAGGER_DIR / "redoc.standalone.js").read_text(encoding="utf-8")
    return text.replace("https://cdn.redoc.ly/redoc/logo-mini.svg", "/docs/static/favicon.png").encode()


def mount(app: FastAPI) -> None:
    """Serve /docs and /redoc (their files from the fastapi-offline package, no CDN) and docs/ read-only.

    The app is built with docs_url=None and redoc_url=None, so these are the only docs pages.
    The markdown is served as it is at /docs/NAME.md and rendered at /docs/NAME.
    """
    app.mount("/docs/static", StaticFiles(directory=SWAGGER_DIR), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} – API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js", swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon.png")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} – API",
                              redoc_js_url="/docs/redoc.js",
                              redoc_favicon_url="/docs/static/favicon.png", with_google_fonts=False)

    @app.get("/docs/redoc.js", include_in_schema=False)
    async def redoc_js() -> Response:
        return Response(_redoc_js(), media_type="text/javascript; charset=utf-8")

    @app.get("/docs/{name}.md", include_in_schema=False)
    async def doc_text(name: str) -> PlainTextResponse:
        return PlainTextResponse(_doc_path(name).read_text(encoding="utf-8"),
                                 media_type="text/plain; charset=utf-8")

    @app.get("/docs/{name}", include_in_schema=False)
    async def doc_page(name: str) -> HTMLResponse:
        return HTMLResponse(render_doc(name))
