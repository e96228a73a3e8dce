"""The agreement's money rules (rules/agreement.yaml): tiers, pots, bonus pot, with the reasons.

Every sum carries the rule that paid it, the figures it was decided on and the tier, so
a region can check each krona against SKR's monthly report.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from classifier.reporting.figures import AREAS, Counts, Table, round_half_up, share
from classifier.resources import data_dir

AGREEMENT = data_dir("rules") / "agreement.yaml"
MSEK_DECIMALS = 6


def load_agreement(path: str | Path | None = None) -> dict[str, Any]:
    p = Path(path or AGREEMENT)
    raw = p.read_bytes()
    doc = yaml.safe_load(raw)
    doc["sha256"] = hashlib.sha256(raw).hexdigest()
    return doc


def _f(d: Decimal | None) -> float | None:
    return None if d is None else float(round_half_up(d, MSEK_DECIMALS))


def monthly_pot(agr: dict[str, Any], area: str, year: int, region_share: Decimal) -> Decimal:
    """A region's pot for one area and measured month: annual / measured months × the region's share."""
    months = agr["measured_months"][year]
    return Decimal(str(agr["areas"][area]["annual_msek"])) / len(months) * region_share


def patients_to_reach(den: int, num: int, target_pct: Decimal) -> int:
    """More patients within 30 days needed for the share to reach target_pct (agreement.yaml rounding)."""
    required = round_half_up(Decimal(den) * target_pct / 100, 0)
    return max(int(required) - num, 0)


def monthly_outcome(agr: dict[str, Any], this: Counts, last: Counts | None, pot: Decimal) -> dict[str, Any]:
    """Alternative one or two for one region, area and month: what it pays, and why."""
    this_share = share(this.numerator, this.denominator)
    last_share = share(last.numerator, last.denominator) if last else None
    waiting_share = share(this.waiting_le30, this.waiting)
    change = this_share - last_share if this_share is not None and last_share is not None else None

    alt1 = next((t for t in agr["alternative_one"] if change is not None and change >= Decimal(str(t["min_pp"]))), None)
    two = agr["alternative_two"]
    alt2_met = (this_share is not None and waiting_share is not None
                and this_share >= Decimal(str(two["min_completed_share"]))
                and waiting_share >= Decimal(str(two["min_waiting_share"])))
    candidates = [(Decimal(str(t["pays"])), "alternative_one", t["label"]) for t in [alt1] if t]
    if alt2_met:
        candidates.append((Decimal(str(two["pays"])), "alternative_two",
                           f"minst {two['min_completed_share']} % genomförda och väntande inom 30 dagar"))
    pays, rule, tier = max(candidates, default=(Decimal(0), None, "målet ej uppnått"))

    next_tier = None
    if last is not None and last.denominator and this.denominator:
        exact_last = Decimal(last.numerator) * 100 / Decimal(last.denominator)
        higher = [t for t in reversed(agr["alternative_one"]) if Decimal(str(t["pays"])) > pays]
        if higher:
            t = higher[0]
            min_pp = Decimal(str(t["min_pp"]))
            strict = next((k for k in range(this.denominator - this.numerator + 1)
                           if share(this.numerator + k, this.denominator) - last_share >= min_pp), None)
            next_tier = {"tier": t["label"], "pays": float(t["pays"]),
                         # SKR's convention (agreement.yaml `rounding`): reproduces its monthly report.
                         "patients_more_within_30_days": patients_to_reach(
                             this.denominator, this.numerator, exact_last + min_pp),
                         # The smallest number that reaches the tier by the tier rule itself (None: cannot).
                         "patients_more_strict": strict}
    return {
        "rule": rule,
        "tier": tier,
        "pays_fraction": float(pays),
        "pot_msek": _f(pot),
        "paid_msek": _f(pot * pays),
        "unpaid_msek": _f(pot * (1 - pays)),
        "share_within_30": _f(this_share),
        "last_year_share_within_30": _f(last_share),
        "change_pp": _f(change),
        "waiting_share_le30": _f(waiting_share),
        "numerator": this.numerator,
        "denominator": this.denominator,
        "next_tier": next_tier,
        "patients_to_75_percent": (patients_to_reach(this.denominator, this.numerator, Decimal(75))
                                   if this.denominator and this_share is not None and this_share < 75 else None),
    }


def queue_outcome(agr: dict[str, Any], table: Table, region: str, year: int, period: dict[str, Any],
                  region_share: Decimal) -> dict[str, Any]:
    """The queue target over one period: completed first visits against new on the list."""
    months = [f"{year}-{m:02d}" for m in period["months"]]
    completed = sum(table.rollup(region, None, "first_visit", m).completed_all for m in months)
    new = sum(table.rollup(region, None, "first_visit", m).new_on_list for m in months)
    present = [m for m in months if m in table.months()]
    pct = share(completed, new)
    tier = None
    for t in agr["queue_tiers"]:
        if pct is not None and (("above_pct" in t and pct > Decimal(str(t["above_pct"])))
                                or ("min_pct" in t and pct >= Decimal(str(t["min_pct"])))):
            tier = t
            break
    measured = agr["measured_months"][year]
    pot = Decimal(str(agr["areas"]["queue"]["annual_msek"])) * len(period["months"]) / len(measured) * region_share
    pays = Decimal(str(tier["pays"])) if tier else Decimal(0)
    complete = len(present) == len(months)
    return {
        "period": period["name"],
        "months": months,
        "complete": complete,
        "new_on_list": new,
        "completed": completed,
        "difference": completed - new,
        "completed_per_new_pct": _f(pct),
        "tier": tier["label"] if tier else "målet ej uppnått",
        "pays_fraction": float(pays),
        "pot_msek": _f(pot),
        "paid_msek": _f(pot * pays) if complete else None,
        "unpaid_msek": _f(pot * (1 - pays)) if complete else None,
        "note": None if complete else "måluppfyllelse redovisas efter periodens slut (period not complete in the data)",
    }


def money(agr: dict[str, Any], table: Table, year: int, shares: dict[str, Decimal]) -> dict[str, Any]:
    """Every region's performance money for the year, and the bonus pot shared at year end."""
    regions = []
    data_months = set(table.months())
    for region in table.regions():
        if region not in shares:
            continue
        s = shares[region]
        months = []
        for m in agr["measured_months"].get(year, []):
            month = f"{year}-{m:02d}"
            if month not in data_months:
                continue
            for area in AREAS:
                this = table.rollup(region, None, area, month)
                last_month = f"{year - 1}-{m:02d}"
                last = table.rollup(region, None, area, last_month) if last_month in data_months else None
                months.append({"month": month, "area": area,
                               **monthly_outcome(agr, this, last, monthly_pot(agr, area, year, s))})
        queue = [queue_outcome(agr, table, region, year, p, s) for p in agr["queue_periods"].get(year, [])]
        paid = sum(Decimal(str(x["paid_msek"])) for x in months + queue if x["paid_msek"] is not None)
        unpaid = sum(Decimal(str(x["unpaid_msek"])) for x in months + queue if x["unpaid_msek"] is not None)
        regions.append({"region": region, "share": float(s), "months": months, "queue": queue,
                        "paid_msek": _f(paid), "unpaid_msek": _f(unpaid)})
    bonus_pot = sum(Decimal(str(r["unpaid_msek"])) for r in regions)
    total_paid = sum(Decimal(str(r["paid_msek"])) for r in regions)
    for r in regions:
        part = Decimal(str(r["paid_msek"])) / total_paid if total_paid else Decimal(0)
        r["bonus_share"] = _f(part)
        r["bonus_msek"] = _f(bonus_pot * part)
    return {
        "year": year,
        "agreement_sha256": agr["sha256"],
        "regions": regions,
        "bonus_pot_msek": _f(bonus_pot),
        "bonus_rule": "unpaid money goes to the bonus pot, paid at year end in proportion to each region's share "
                      "of all performance money paid that year (over the regions in the input)",
    }
