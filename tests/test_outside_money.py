"""The agreement's money checked from outside against figures worked out by hand (DOMAIN §7).

Every expected amount below is written from the arithmetic in its comment, not read back from
the code. Amounts are in öre (1 mnkr = 100 000 000 öre); an area is 210 mnkr a year
(21 000 000 000 öre), 2025 measures 9 months (March–November), 2026 11 (January–November).
Remainder öre go by largest remainder, ties to the earlier item (earlier month, region first in
code-point order of its name): docs/money.md §1.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from classifier.reporting.figures import Counts
from classifier.reporting.money import (
    at_least,
    block_one,
    load_agreement,
    monthly_outcome,
    monthly_pot,
    queue_tier,
)
from classifier.reporting.records import ReportInputError, read_source
from classifier.reporting.report import monthly_report
from tests.client import client

AGR = load_agreement()
# The 21 regions (rules/regions.yaml), in code-point order of their names: the order remainders go in.
REGIONS = ["Region Blekinge", "Region Dalarna", "Region Gotland", "Region Gävleborg", "Region Halland",
           "Region Jämtland Härjedalen", "Region Jönköpings län", "Region Kalmar län", "Region Kronoberg",
           "Region Norrbotten", "Region Skåne", "Region Stockholm", "Region Sörmland", "Region Uppsala",
           "Region Värmland", "Region Västerbotten", "Region Västernorrland", "Region Västmanland",
           "Region Örebro län", "Region Östergötland", "Västra Götalandsregionen"]
AREA_YEAR = 21_000_000_000  # 210 mnkr × 100 000 000 öre


def counts(num: int, den: int, waiting: int = 10, le30: int = 10, given: bool = True) -> Counts:
    return Counts(numerator=num, denominator=den, completed_all=den, waiting=waiting, waiting_le30=le30,
                  waiting_given=given)


def row(region: str, area: str, month: str, num: int, den: int, waiting: int = 10, le30: int = 10,
        **more: int) -> dict[str, Any]:
    return {"region": region, "area": area, "month": month, "numerator": num, "denominator": den,
            "completed_all": more.pop("completed_all", den), "waiting": waiting, "waiting_le30": le30, **more}


# ---- the region's pots ---------------------------------------------------------------------------------

def test_monthly_pots_split_the_year_to_the_ore() -> None:
    # share 1, 2025: 21 000 000 000 / 9 = 2 333 333 333.33…; 9 × 2 333 333 333 = 20 999 999 997, so the 3 öre
    # left go to the first three months (March, April, May): 2 333 333 334; June–November 2 333 333 333.
    out = monthly_report(2025, shares={"A": 1}, counts=[row("A", "first_visit", "2025-11", 9, 10)])
    pots = {m["month"]: m["pot_ore"] for m in out["money"]["regions"][0]["months"] if m["area"] == "first_visit"}
    assert pots == {"2025-03": 2_333_333_334, "2025-04": 2_333_333_334, "2025-05": 2_333_333_334,
                    **{f"2025-{m:02d}": 2_333_333_333 for m in range(6, 12)}}
    assert sum(pots.values()) == AREA_YEAR
    # 2026: 21 000 000 000 / 11 = 1 909 090 909.09…; 11 × 1 909 090 909 = 20 999 999 999: January gets the öre.
    out = monthly_report(2026, shares={"A": 1}, counts=[row("A", "first_visit", "2026-11", 9, 10)])
    pots = {m["month"]: m["pot_ore"] for m in out["money"]["regions"][0]["months"] if m["area"] == "first_visit"}
    assert pots["2026-01"] == 1_909_090_910 and set(list(pots.values())[1:]) == {1_909_090_909}
    assert sum(pots.values()) == AREA_YEAR


def test_a_monthly_pot_reproduces_the_seeds_3_887_mnkr() -> None:
    # Seed 000 prints a monthly maximum of 3,887 mnkr per area. A share of 0.1666: 21 000 000 000 × 0.1666 / 9 =
    # 3 498 600 000 / 9 = 388 733 333.33… → 388 733 333 öre = 3,887 mnkr to three decimals.
    assert monthly_pot(AGR, "first_visit", 2025, Decimal("0.1666")) == 388_733_333


def test_queue_pot_split_over_the_two_periods_by_months() -> None:
    # 2025: periods of 4 and 5 months: 21e9 × 4/9 = 9 333 333 333.33…, 21e9 × 5/9 = 11 666 666 666.67…; the floors
    # sum to 20 999 999 999 and the one öre left goes to the larger remainder (.67, July–November).
    months = [row("A", "first_visit", f"2025-{m:02d}", 9, 10, new_on_list=10) for m in range(3, 12)]
    q = monthly_report(2025, shares={"A": 1}, counts=months)["money"]["regions"][0]["queue"]
    assert [p["pot_ore"] for p in q] == [9_333_333_333, 11_666_666_667]


# ---- alternative two: "at least 75 %" exactly ----------------------------------------------------------

POT = 1_000_001  # an odd pot, so a half öre shows which way it is rounded


@pytest.mark.parametrize(("num", "den", "paid"), [
    (2999, 4000, 0),      # 74.975 %: SKR prints 75.0 %, but it is below "at least 75 %": nothing
    (3000, 4000, POT),    # 75 % exactly: at least 75 %: all of it
    (3001, 4000, POT),    # 75.025 %: all of it
])
def test_alternative_two_completed_share_at_and_around_75(num: int, den: int, paid: int) -> None:
    out = monthly_outcome(AGR, counts(num, den), None, POT)
    assert (out["paid_ore"], out["to_bonus_ore"]) == (paid, POT - paid)
    if not paid:
        # 4000 × 75 % = 3000 needed within 30 days: 1 more patient
        assert out["patients_to_75_percent"] == 1
        why = next(w["sv"] for w in out["why_not_met"] if w["code"] == "alternative_two_completed_failed")
        assert "74,975 %" in why and "0,025 %-enheter" in why


@pytest.mark.parametrize(("waiting", "le30", "met"), [
    (4000, 2999, False),  # 74.975 % of those waiting within 30 days: below 75 %
    (4000, 3000, True),   # 75 % exactly
    (4000, 3001, True),
    (0, 0, True),         # nobody waiting at month end (and the waits are known): the waiting half holds
])
def test_alternative_two_waiting_share_at_and_around_75(waiting: int, le30: int, met: bool) -> None:
    out = monthly_outcome(AGR, counts(90, 100, waiting, le30), None, POT)
    assert out["paid_ore"] == (POT if met else 0)
    assert out["nobody_waiting"] is (waiting == 0)


def test_waiting_not_given_is_not_nobody_waiting() -> None:
    # aggregated counts without waiting figures: unknown, so alternative two is not judged: nothing paid
    out = monthly_outcome(AGR, counts(90, 100, 0, 0, given=False), None, POT)
    assert out["paid_ore"] == 0 and out["why_not_met"][-1]["code"] == "alternative_two_no_waiting"


def test_at_least_is_exact_for_a_share_no_float_can_hold() -> None:
    # 75 % of 3 is 2.25: 2/3 = 66.66…% is below and 3/3 above; 1/3 of a per cent is never met by rounding.
    assert not at_least(2, 3, Fraction(75)) and at_least(3, 3, Fraction(75))
    assert at_least(1, 3, Fraction(100, 3)) and not at_least(333_333, 1_000_000, Fraction(100, 3))


# ---- alternative one: improvement in points, on the shares as printed ----------------------------------

LAST = counts(50, 100)  # last year 50.0 %


@pytest.mark.parametrize(("num", "den", "pays"), [
    (509, 1000, 0),                  # 50.9: +0.9 points: below 1.0, nothing
    (51, 100, Fraction(1, 2)),       # 51.0: +1.0 exactly: 50 %
    (52, 100, Fraction(1, 2)),       # +2.0
    (549, 1000, Fraction(1, 2)),     # 54.9: +4.9: still 50 %
    (55, 100, Fraction(3, 4)),       # +5.0 exactly: 75 %
    (599, 1000, Fraction(3, 4)),     # +9.9: 75 %
    (60, 100, Fraction(1)),          # +10.0 exactly: 100 %
    (601, 1000, Fraction(1)),        # +10.1
])
def test_alternative_one_tiers_at_below_and_above(num: int, den: int, pays: Fraction) -> None:
    # waiting 10 of which 5 within 30 days (50 %): alternative two fails, so alternative one alone decides
    out = monthly_outcome(AGR, counts(num, den, 10, 5), LAST, POT)
    # paid = pot × tier, half up to the öre: 1 000 001 × 1/2 = 500 000.5 → 500 001; × 3/4 = 750 000.75 → 750 001
    paid = {Fraction(0): 0, Fraction(1, 2): 500_001, Fraction(3, 4): 750_001, Fraction(1): POT}[pays]
    assert (out["paid_ore"], out["to_bonus_ore"]) == (paid, POT - paid)
    assert out["paid_ore"] + out["to_bonus_ore"] == POT


def test_alternative_one_printed_share_is_rounded_half_up() -> None:
    # 1625/2000 = 81.25 % exactly: half up prints 81.3 (Python's round(81.25, 1) gives 81.2). Last year
    # 803/1000 = 80.3 %: +1.0 points: 50 %. Rounded half to even it would be +0.9 and pay nothing.
    out = monthly_outcome(AGR, counts(1625, 2000, 10, 5), counts(803, 1000), POT)
    assert out["share_within_30"] == 81.3 and out["change_pp"] == 1.0 and out["paid_ore"] == 500_001


def test_alternative_one_counts_the_printed_share_where_alternative_two_counts_exactly() -> None:
    # 2999/4000 = 74.975 % prints 75.0; last year 740/1000 = 74.0: +1.0 as printed: alternative one pays 50 %,
    # while alternative two (exact) is not met. DOMAIN §7: alternative one compares the shares as printed.
    out = monthly_outcome(AGR, counts(2999, 4000), counts(740, 1000), POT)
    assert out["rule"] == "alternative_one" and out["paid_ore"] == 500_001


def test_nothing_completed_is_its_own_status_and_goes_to_the_bonus_pot() -> None:
    out = monthly_outcome(AGR, counts(0, 0), LAST, POT)
    assert out["status"] == "nothing_completed" and (out["paid_ore"], out["to_bonus_ore"]) == (0, POT)
    assert "inget genomfört" in out["status_words"]["sv"]


# ---- the queue target: completed / new, exact ratio ----------------------------------------------------

@pytest.mark.parametrize(("completed", "new", "pays"), [
    (1999, 2000, None),  # 99.95 %: below "at least as many": nothing
    (2000, 2000, 0.5),   # 100 % exactly: 50 %
    (2050, 2000, 0.5),   # 102.5 % exactly: still 50 %
    (2051, 2000, 0.75),  # 102.55 %: above 102.5: 75 %
    (2100, 2000, 0.75),  # 105 % exactly: 75 % (100 % only above 105)
    (2101, 2000, 1.0),   # 105.05 %: 100 %
    (41, 40, 0.5),       # 102.5 % exactly in small numbers
    (1026, 1000, 0.75),  # 102.6 %: the seed's "102,6–105"
])
def test_queue_tiers_at_below_and_above(completed: int, new: int, pays: float | None) -> None:
    tier = queue_tier(AGR, completed, new)
    assert (tier["pays"] if tier else None) == pays


def test_queue_period_pays_its_tier_of_the_period_pot() -> None:
    # March–June 2025, share 1: 2051 completed first visits against 2000 new (102.55 %): 75 % of 9 333 333 333
    # = 6 999 999 999.75 → 7 000 000 000 paid (half up), 2 333 333 333 to the queue bonus pot.
    per_month = [(500, 500), (500, 500), (500, 500), (551, 500)]  # completed, new: 2051 and 2000 in all
    rows = [row("A", "first_visit", f"2025-{m:02d}", 9, 10, completed_all=c, new_on_list=n)
            for m, (c, n) in zip(range(3, 7), per_month, strict=True)]
    q = monthly_report(2025, shares={"A": 1}, counts=rows)["money"]["regions"][0]["queue"][0]
    assert (q["completed"], q["new_on_list"], q["difference"]) == (2051, 2000, 51)
    assert (q["paid_ore"], q["to_bonus_ore"], q["held_ore"]) == (7_000_000_000, 2_333_333_333, 0)


# ---- bonus pots: shared by the money paid, over all 21 regions -----------------------------------------

def _national(shares: dict[str, str], regions_with_data: dict[str, tuple[bool, bool, bool]],
              **kw: Any) -> dict[str, Any]:
    """March 2025 for the regions given: (first visit, investigation, treatment) met or not (alternative two)."""
    rows = []
    for region, met in regions_with_data.items():
        for area, ok in zip(("first_visit", "investigation", "treatment"), met, strict=True):
            rows.append(row(region, area, "2025-03", 80 if ok else 10, 100, 10, 8 if ok else 1))
    return monthly_report(2025, shares=shares, counts=rows, **kw)["money"]


SHARES = {r: "0" for r in REGIONS} | {"Region Stockholm": "0.45", "Västra Götalandsregionen": "0.30",
                                      "Region Skåne": "0.15", "Region Uppsala": "0.10"}
MET = {"Region Stockholm": (True, True, True), "Västra Götalandsregionen": (True, False, False),
       "Region Skåne": (False, False, False)}


def test_bonus_pot_shared_by_money_paid_and_conserved_to_the_ore() -> None:
    # March 2025 pots (annual 21e9 × share / 9, March first): Stockholm 21e9 × 0.45 / 9 = 1 050 000 000;
    # VGR 21e9 × 0.30 / 9 = 700 000 000; Skåne 21e9 × 0.15 / 9 = 350 000 000 (all exact).
    # Paid: Stockholm 3 × 1 050 000 000 = 3 150 000 000; VGR first visit 700 000 000. In all 3 850 000 000.
    # To the wait-time pot: VGR 2 × 700 000 000 + Skåne 3 × 350 000 000 = 2 450 000 000.
    # Shared by money paid: Stockholm 2 450 000 000 × 3 150/3 850 = × 9/11 = 2 004 545 454.54…,
    # VGR × 2/11 = 445 454 545.45…; the floors sum to 2 449 999 999, the öre left to the larger remainder
    # (.54…, Stockholm): 2 004 545 455 and 445 454 545; Skåne paid nothing and gets nothing.
    m = _national(SHARES, MET)
    assert not m["coverage"]["partial"]
    pot = m["bonus_pots"]["wait_time"]
    assert (pot["pot_ore"], pot["paid_for_requirements_ore"], pot["undistributed_ore"]) == (2_450_000_000,
                                                                                          3_850_000_000, 0)
    bonus = {r["region"]: r["bonus"]["wait_time"]["bonus_ore"] for r in m["regions"]}
    assert bonus["Region Stockholm"] == 2_004_545_455 and bonus["Västra Götalandsregionen"] == 445_454_545
    assert bonus["Region Skåne"] == 0 and sum(bonus.values()) == 2_450_000_000
    # Uppsala (0.10) has no data: not reported, held. Its March pots: 21e9 × 0.10 = 2 100 000 000 a year;
    # / 9 = 233 333 333.33…, 3 öre left to March–May: March 233 333 334; three areas: 700 000 002 held.
    c = m["conservation"]
    assert c["held_ore"] == 700_000_002 and c["paid_ore"] == 3_850_000_000
    assert c["bonus_shared_ore"] == 2_450_000_000
    # Everything else is not yet due: 4 areas × 21e9 = 84 000 000 000 − 3 850 000 000 − 2 450 000 000
    # − 700 000 002 = 76 999 999 998.
    assert c["not_yet_due_ore"] == 76_999_999_998 and c["expected_ore"] == 84_000_000_000 and c["balanced"]
    # The December payout pays the bonus with the total: Stockholm 0 paid in December + 2 004 545 455.
    dec = next(p for p in m["payouts"] if p["payout"] == "december")
    assert next(r for r in dec["regions"] if r["region"] == "Region Stockholm")["total_ore"] == 2_004_545_455
    aug = next(p for p in m["payouts"] if p["payout"] == "augusti")
    assert aug["paid_ore"] == 3_850_000_000


def test_a_partial_pot_is_never_a_regions_money() -> None:
    # Without Region Gotland (share 0 anyway) the input lacks a region: every bonus figure is partial, its
    # share is shown but never in a total; the December total of Stockholm is then 0, not 2 004 545 455.
    shares = {r: v for r, v in SHARES.items() if r != "Region Gotland"}
    m = _national(shares, MET)
    assert m["coverage"]["partial"] and m["coverage"]["missing_regions"] == ["Region Gotland"]
    assert m["bonus_pots"]["wait_time"]["partial"]
    dec = next(p for p in m["payouts"] if p["payout"] == "december")
    sthlm = next(r for r in dec["regions"] if r["region"] == "Region Stockholm")
    assert sthlm["bonus_ore"] == 2_004_545_455 and sthlm["total_ore"] == 0 and dec["bonus_partial"]
    # shares summing to 0.9 (Uppsala's 0.10 left out, all 21 named): partial too
    m = _national(SHARES | {"Region Uppsala": "0"}, MET)
    assert m["coverage"]["partial"] and not m["coverage"]["shares_sum_is_one"]


def test_a_pot_nobody_earned_towards_is_undistributed_not_dropped() -> None:
    # Only Skåne reports and meets nothing: 3 × 350 000 000 = 1 050 000 000 to the pot, nobody paid anything:
    # the pot cannot be shared by money paid, it is undistributed, and conservation still holds.
    m = _national(SHARES, {"Region Skåne": (False, False, False)})
    pot = m["bonus_pots"]["wait_time"]
    assert (pot["pot_ore"], pot["undistributed_ore"]) == (1_050_000_000, 1_050_000_000)
    assert m["conservation"]["balanced"] and m["conservation"]["undistributed_ore"] == 1_050_000_000


# ---- shares: exact, never summed as floats -------------------------------------------------------------

def _post(body: dict[str, Any]) -> Any:
    return client.post("/v1/reports/monthly", json={"year": 2025, "counts": [row(REGIONS[0], "first_visit",
                                                                                 "2025-03", 9, 10)], **body})


def test_shares_as_decimal_strings_sum_exactly() -> None:
    # 20 × 0.047619047619047619 + 0.04761904761904762 = 0.95238095238095238 + 0.04761904761904762 = 1 exactly.
    # As JSON numbers the same digits become doubles (0.047619047619047616) and sum to something else than 1.
    shares = {r: "0.047619047619047619" for r in REGIONS[:20]} | {REGIONS[20]: "0.04761904761904762"}
    r = _post({"shares": shares})
    assert r.status_code == 200, r.text
    assert r.json()["money"]["coverage"]["shares_sum_is_one"] and not r.json()["money"]["coverage"]["partial"]


def test_shares_summing_above_one_by_less_than_a_double_can_tell_are_refused() -> None:
    # 0.6 + 0.4000000000000000001 = 1.0000000000000000001 > 1: refused. As a JSON number, 0.4000000000000000001
    # is the double 0.4 and the sum would pass as exactly 1.
    r = _post({"shares": {REGIONS[0]: "0.6", REGIONS[1]: "0.4000000000000000001"}})
    assert r.status_code == 422 and "above 1" in r.text
    for bad in (True, "1e-3", "1.5", -0.1, "abc"):
        r = _post({"shares": {REGIONS[0]: bad}})
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["path"] == f"shares.{REGIONS[0]}", r.text


# ---- block one: a base for each of the 21, the rest by population, never guessed -----------------------

def test_block_one_complete_by_hand() -> None:
    # 150 mnkr = 15 000 000 000 öre; base 21 × 500 000 000 = 10 500 000 000; rest 4 500 000 000.
    # 20 regions of 100 000 children and Stockholm 250 000: 2 250 000 in all, 4 500 000 000 / 2 250 000 = 2 000 öre
    # a child: 200 000 000 (total 700 000 000) each, Stockholm 500 000 000 (total 1 000 000 000).
    population = {r: 100_000 for r in REGIONS} | {"Region Stockholm": 250_000}
    b = block_one(AGR, 2025, population)
    assert b["status"] == "complete" and b["by_population_computed"] and b["note_sv"] is None
    by = {r["region"]: r for r in b["regions"]}
    assert by["Region Stockholm"]["by_population_ore"] == 500_000_000 and by["Region Stockholm"]["total_ore"] == 10 ** 9
    assert {by[r]["total_ore"] for r in REGIONS if r != "Region Stockholm"} == {700_000_000}
    assert b["distributed_ore"] == 15_000_000_000 == sum(r["total_ore"] for r in b["regions"])


def test_block_one_remainders_follow_the_stated_rule() -> None:
    # Equal populations: 4 500 000 000 / 21 = 214 285 714.28…; 21 × 214 285 714 = 4 499 999 994: 6 öre left, all
    # remainders equal, so to the first six regions in code-point order of their names (Blekinge … Jämtland).
    b = block_one(AGR, 2025, {r: 1 for r in REGIONS})
    by = {r["region"]: r["by_population_ore"] for r in b["regions"]}
    assert [by[r] for r in REGIONS] == [214_285_715] * 6 + [214_285_714] * 15
    assert b["distributed_ore"] == 15_000_000_000


def test_block_one_does_not_guess_a_missing_population() -> None:
    # Gotland missing: the rest is divided by each region's part of all 21, which is unknown: no region's part by
    # population is computed (the old code divided the 4.5e9 over the 20 given, a guess), only the base is given.
    population = {r: 100_000 for r in REGIONS if r != "Region Gotland"}
    b = block_one(AGR, 2025, population)
    assert all(r["by_population_ore"] is None and r["total_ore"] is None for r in b["regions"])
    assert len(b["regions"]) == 21 and b["missing_regions"] == ["Region Gotland"]
    assert b["status"] == "partial" and not b["by_population_computed"]
    assert {r["base_ore"] for r in b["regions"]} == {500_000_000} and b["distributed_ore"] is None
    gotland = next(r for r in b["regions"] if r["region"] == "Region Gotland")
    assert gotland["population_0_18"] is None
    assert "Region Gotland" in b["note_sv"] and "beräknas inte" in b["note_sv"] and "not computed" in b["note_en"]


def test_block_one_with_no_children_anywhere_is_not_divided() -> None:
    # every population 0: the rest cannot be divided by population (the old code lost its 4.5e9 öre silently)
    b = block_one(AGR, 2025, {r: 0 for r in REGIONS})
    assert b["status"] == "population_zero" and all(r["total_ore"] is None for r in b["regions"])
    assert "0" in b["note_en"]


def test_report_takes_population_as_a_mapping_checked_as_a_file_is() -> None:
    base = {"shares": {"A": 1}, "counts": [row("A", "first_visit", "2025-03", 9, 10)]}
    with pytest.raises(ReportInputError, match="population_0_18"):
        monthly_report(2025, **base, population={r: True for r in REGIONS})  # a bool is no head count
    with pytest.raises(ReportInputError, match="not one of the 21"):
        monthly_report(2025, **base, population={r: 1 for r in REGIONS} | {"Region Nord": 5})


def test_population_file_refuses_bools_and_unknown_regions(tmp_path: Path) -> None:
    path = tmp_path / "population.jsonl"
    path.write_text(json.dumps({"region": "Region Skåne", "population_0_18": True}) + "\n"
                    + json.dumps({"region": "Region Nord", "population_0_18": 5}) + "\n", encoding="utf-8")
    with pytest.raises(ReportInputError) as err:
        monthly_report(2025, shares={"A": 1}, counts=[row("A", "first_visit", "2025-03", 9, 10)],
                       population=read_source(path))
    paths = {p["path"] for p in err.value.items()}
    assert any("population_0_18" in p for p in paths) and any(p.endswith("region") for p in paths)


# ---- POST /v1/reports/monthly takes the population -----------------------------------------------------

def test_api_takes_population_and_pays_block_one() -> None:
    population = {r: 100_000 for r in REGIONS} | {"Region Stockholm": 250_000}
    r = _post({"shares": {REGIONS[0]: 1}, "population": population})
    assert r.status_code == 200, r.text
    b = r.json()["money"]["block_one"]
    by = {x["region"]: x["total_ore"] for x in b["regions"]}
    assert by["Region Stockholm"] == 1_000_000_000 and by["Region Gotland"] == 700_000_000  # as by hand above
    assert b["distributed_ore"] == 15_000_000_000


def test_api_population_with_a_region_missing_gives_only_the_base() -> None:
    r = _post({"shares": {REGIONS[0]: 1}, "population": {"Region Skåne": 10}})
    assert r.status_code == 200, r.text
    b = r.json()["money"]["block_one"]
    assert b["status"] == "partial" and len(b["missing_regions"]) == 20
    assert all(x["by_population_ore"] is None and x["base_ore"] == 500_000_000 for x in b["regions"])
    assert "not computed" in b["note_en"]


@pytest.mark.parametrize(("value", "kind"), [(-1, "greater_than_equal"), (True, "int_type"), (1.5, "int_type"),
                                             ("12", "int_type"), (None, "int_type")])
def test_api_refuses_a_bad_population_naming_the_field(value: Any, kind: str) -> None:
    r = _post({"shares": {REGIONS[0]: 1}, "population": {"Region Skåne": value}})
    assert r.status_code == 422
    err = r.json()["errors"][0]
    assert err["path"] == "population.Region Skåne" and err["type"] == kind


def test_api_refuses_a_population_for_an_unknown_region() -> None:
    r = _post({"shares": {REGIONS[0]: 1}, "population": {"Region Nord": 5}})
    assert r.status_code == 422
    assert r.json()["errors"] == [{"path": "population.Region Nord", "message": "expected one of the 21 regions "
                                   "(rules/regions.yaml)", "message_sv": "en av de 21 regionerna "
                                   "(rules/regions.yaml) väntades", "type": "unknown_region"}]


def test_openapi_documents_population() -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["MonthlyReportRequest"]
    prop = schema["properties"]["population"]
    assert "0–18" in prop["description"]
    assert prop["anyOf"][0]["additionalProperties"] == {"type": "integer", "minimum": 0}


# ---- the queue target's figures: unknown is not 0 ------------------------------------------------------

def _queue(rows: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return monthly_report(2025, shares={"A": 1}, **kw, counts=rows)["money"]["regions"][0]["queue"][0]


def test_counts_without_new_on_list_hold_the_queue_money_not_move_it() -> None:
    # March–June 2025 as counts with the wait-time figures only: no one's "new on the list" is known. The old code
    # read the missing figure as 0 ("no one new") and moved the whole period pot, 9 333 333 333 öre, to the bonus
    # pot. Unknown is not 0: the money is held (as for a month not reported) and the months are named.
    rows = [row("A", "first_visit", f"2025-{m:02d}", 9, 10) for m in range(3, 7)]
    q = _queue(rows)
    assert (q["paid_ore"], q["to_bonus_ore"], q["held_ore"]) == (0, 0, 9_333_333_333)
    assert q["status"] == "figures_missing" and q["figures_missing_months"] == [f"2025-{m:02d}" for m in range(3, 7)]
    assert q["new_on_list"] is None and "2025-03" in q["status_words"]["sv"]
    # once the reporting is final, still missing figures are "target not met": to the bonus pot
    q = _queue(rows, final=True)
    assert (q["paid_ore"], q["to_bonus_ore"], q["held_ore"]) == (0, 9_333_333_333, 0)


def test_one_month_without_new_on_list_holds_the_whole_period() -> None:
    # three months give new_on_list, June does not: the period's sum cannot be formed (2 051 against 2 000 + ?)
    rows = [row("A", "first_visit", f"2025-{m:02d}", 9, 10, completed_all=500, new_on_list=500) for m in (3, 4, 5)]
    rows.append(row("A", "first_visit", "2025-06", 9, 10, completed_all=551))
    q = _queue(rows)
    assert q["status"] == "figures_missing" and q["figures_missing_months"] == ["2025-06"]
    assert q["held_ore"] == 9_333_333_333
    # the same month's figure in a second row (several rows may give one month): known, and the period pays
    rows.append({"region": "A", "area": "first_visit", "month": "2025-06", "new_on_list": 500})
    q = _queue(rows)
    assert q["status"] == "reported" and (q["completed"], q["new_on_list"]) == (2051, 2000)
    assert q["paid_ore"] == 7_000_000_000  # 75 % of 9 333 333 333 = 6 999 999 999.75 → half up (as above)


def test_counts_without_completed_all_hold_the_queue_money() -> None:
    # new_on_list given, completed_all not: every completed first visit (MOV/SOV included) is unknown; the
    # denominator is not it. The old code counted 0 completed against 2 000 new: "target not met", to the pot.
    rows = [row("A", "first_visit", f"2025-{m:02d}", 9, 10, new_on_list=500) for m in range(3, 7)]
    for r in rows:
        del r["completed_all"]
    q = _queue(rows)
    assert q["status"] == "figures_missing" and q["held_ore"] == 9_333_333_333 and q["to_bonus_ore"] == 0


def test_contacts_without_a_waiting_list_leave_new_on_list_unknown() -> None:
    # completed first visits as the classifier's answers, no waiting list: who was new on the list is unknown
    done = [{"region": "A", "unit": "U", "date": f"2025-{m:02d}-10", "contact_type": "first_visit",
             "in_numerator": True, "in_denominator": True} for m in range(3, 7)]
    q = monthly_report(2025, shares={"A": 1}, completed=done)["money"]["regions"][0]["queue"][0]
    assert q["status"] == "figures_missing" and q["held_ore"] == 9_333_333_333
    # with a waiting list (here: nobody waiting at any month end) new on the list is known: 0, so no one new
    wait = [{"region": "A", "unit": "U", "month": "2025-02", "area": "investigation", "wait_start": "2025-01-10"}]
    q = monthly_report(2025, shares={"A": 1}, completed=done, waiting=wait)["money"]["regions"][0]["queue"][0]
    assert q["status"] == "no_new_on_list" and q["to_bonus_ore"] == 9_333_333_333


def test_no_waiting_list_is_not_nobody_waiting() -> None:
    # Completed first visits only, no waiting list at all: who waits at month end is unknown. The old code took
    # an absent list for an empty one ("nobody waiting"), so the waiting half of alternative two held and March's
    # whole pot (2 333 333 334 öre, share 1) was paid on that guess. Unknown: alternative two is not judged.
    done = [{"region": "A", "unit": "U", "date": "2025-03-10", "contact_type": "first_visit",
             "in_numerator": True, "in_denominator": True}]
    m = monthly_report(2025, shares={"A": 1}, completed=done)["money"]["regions"][0]["months"][0]
    assert (m["month"], m["area"]) == ("2025-03", "first_visit")
    assert m["paid_ore"] == 0 and m["nobody_waiting"] is False
    assert "alternative_two_no_waiting" in [w["code"] for w in m["why_not_met"]]
    # a waiting list that lists nobody for March (its one patient waits in another area): nobody waiting, paid
    wait = [{"region": "A", "unit": "U", "month": "2025-03", "area": "treatment", "wait_start": "2025-03-01"}]
    m = monthly_report(2025, shares={"A": 1}, completed=done, waiting=wait)["money"]["regions"][0]["months"][0]
    assert m["nobody_waiting"] and m["paid_ore"] == 2_333_333_334


def test_an_empty_waiting_file_says_nobody_waits(tmp_path: Path) -> None:
    # a file given with its header and no patient: a list that lists nobody (the CLI's --waiting)
    path = tmp_path / "waiting.csv"
    path.write_text("region,unit,month,area,wait_start,exclusion\n", encoding="utf-8")
    done = [{"region": "A", "unit": "U", "date": "2025-03-10", "contact_type": "first_visit",
             "in_numerator": True, "in_denominator": True}]
    m = monthly_report(2025, shares={"A": 1}, completed=done, waiting=read_source(path))["money"]["regions"][0]
    assert m["months"][0]["nobody_waiting"] and m["months"][0]["paid_ore"] == 2_333_333_334


# ---- the agreement as data: a mis-ordered tier list is refused, not read as it stands ------------------

@pytest.mark.parametrize("edit", ["alternative_one_ascending", "queue_ascending", "pays_above_one",
                                  "block_one_below_base"])
def test_agreement_tiers_out_of_order_are_refused(tmp_path: Path, edit: str) -> None:
    # Tiers are read first match wins: listed 1.0, 5.0, 10.0 a 10-point improvement would pay 50 %, not 100 %.
    import yaml

    from classifier.reporting.money import AGREEMENT, AgreementError

    doc = yaml.safe_load(AGREEMENT.read_text(encoding="utf-8"))
    if edit == "alternative_one_ascending":
        doc["alternative_one"].reverse()
    elif edit == "queue_ascending":
        doc["queue_tiers"].reverse()
    elif edit == "pays_above_one":
        doc["alternative_one"][0]["pays"] = 1.5
    else:
        doc["block_one"]["annual_msek"][2026] = 100  # 21 × 5 = 105 mnkr of base alone
    bad = tmp_path / "agreement.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(AgreementError):
        load_agreement(bad)
