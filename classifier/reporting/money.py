"""The agreement's money rules (rules/agreement.yaml): tiers, pots, two bonus pots, payouts, held money.

Every sum carries the rule that paid it, the figures it was decided on and the tier, so
a region can check each krona against the monthly report. Each pot of a region, area
and month ends in exactly one of paid, to a bonus pot, or held (not reported, not final).
"""

from __future__ import annotations

import hashlib
import math
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from classifier.reporting.figures import AREAS, Counts, Rollup, round_half_up, share
from classifier.resources import data_dir

AGREEMENT = data_dir("rules") / "agreement.yaml"
MSEK_DECIMALS = 6
ZERO = Decimal(0)


class AgreementError(ValueError):
    """agreement.yaml is inconsistent; the message names the year and key."""


def load_agreement(path: str | Path | None = None) -> dict[str, Any]:
    """Read and check agreement.yaml: each measured month in one payout, each queue period within one."""
    p = Path(path or AGREEMENT)
    raw = p.read_bytes()
    doc = yaml.safe_load(raw)
    doc["sha256"] = hashlib.sha256(raw).hexdigest()
    pots = doc["bonus_pots"]
    if sorted(a for pot in pots.values() for a in pot["areas"]) != sorted(doc["areas"]):
        raise AgreementError("bonus_pots: every area must be in exactly one pot")
    for year, months in doc["measured_months"].items():
        payouts = doc["payouts"].get(year) or []
        covered = sorted(m for p_ in payouts for m in p_["months"])
        if covered != sorted(months):
            raise AgreementError(f"payouts.{year}: months {covered} must be the measured months {months}")
        if sum(bool(p_.get("bonus_pots")) for p_ in payouts) != 1:
            raise AgreementError(f"payouts.{year}: exactly one payout pays the bonus pots")
        for period in doc["queue_periods"].get(year, []):
            if not any(set(period["months"]) <= set(p_["months"]) for p_ in payouts):
                raise AgreementError(f"queue_periods.{year}: {period['name']} is not within one payout")
    return doc


def _f(d: Decimal | None) -> float | None:
    return None if d is None else float(round_half_up(d, MSEK_DECIMALS))


def _d(x: Any) -> Decimal:
    return Decimal(str(x))


def pot_of(agr: dict[str, Any], area: str) -> str:
    """The bonus pot an area's unpaid money goes to."""
    return next(name for name, pot in agr["bonus_pots"].items() if area in pot["areas"])


def payout_of(agr: dict[str, Any], year: int, months: list[int]) -> str:
    return next(p["name"] for p in agr["payouts"][year] if set(months) <= set(p["months"]))


def monthly_pot(agr: dict[str, Any], area: str, year: int, region_share: Decimal) -> Decimal:
    """A region's pot for one area and measured month: annual / measured months × the region's share."""
    months = agr["measured_months"][year]
    return _d(agr["areas"][area]["annual_msek"]) / len(months) * region_share


def patients_to_reach(den: int, num: int, target_pct: Decimal) -> int:
    """More patients within 30 days needed for the share to reach target_pct (agreement.yaml rounding)."""
    required = round_half_up(Decimal(den) * target_pct / 100, 0)
    return max(int(required) - num, 0)


def patients_strict(den: int, num: int, target_share: Decimal) -> int | None:
    """The fewest more patients within 30 days whose printed share (half up, one decimal) reaches target_share.

    Arithmetic, not a search: round_half_up(x, 1) >= T exactly when x >= T - 0.05, so
    n/den × 100 >= T - 0.05, n >= den × (T - 0.05) / 100. None: the target cannot be
    reached even with every completed contact within 30 days.
    """
    need = max(math.ceil(Fraction(den) * (Fraction(target_share) - Fraction(1, 20)) / 100), 0)
    return None if need > den else max(need - num, 0)


def monthly_outcome(agr: dict[str, Any], this: Counts, last: Counts | None, pot: Decimal) -> dict[str, Any]:
    """Alternative one or two for one region, area and reported month: what it pays, and why."""
    this_share = share(this.numerator, this.denominator)
    last_share = share(last.numerator, last.denominator) if last else None
    waiting_share = share(this.waiting_le30, this.waiting)
    change = this_share - last_share if this_share is not None and last_share is not None else None

    alt1 = next((t for t in agr["alternative_one"] if change is not None and change >= _d(t["min_pp"])), None)
    two = agr["alternative_two"]
    alt2_met = (this_share is not None and waiting_share is not None
                and this_share >= _d(two["min_completed_share"])
                and waiting_share >= _d(two["min_waiting_share"]))
    candidates = [(_d(t["pays"]), "alternative_one", t["label"]) for t in [alt1] if t]
    if alt2_met:
        candidates.append((_d(two["pays"]), "alternative_two",
                           f"minst {two['min_completed_share']} % genomförda och väntande inom 30 dagar"))
    pays, rule, tier = max(candidates, default=(ZERO, None, "målet ej uppnått"))

    next_tier = None
    if last is not None and last.denominator and this.denominator and last_share is not None:
        exact_last = Decimal(last.numerator) * 100 / Decimal(last.denominator)
        higher = [t for t in reversed(agr["alternative_one"]) if _d(t["pays"]) > pays]
        if higher:
            t = higher[0]
            min_pp = _d(t["min_pp"])
            next_tier = {"tier": t["label"], "pays": float(t["pays"]),
                         # SKR's convention (agreement.yaml `rounding`): reproduces its monthly report.
                         "patients_more_within_30_days": patients_to_reach(
                             this.denominator, this.numerator, exact_last + min_pp),
                         # The smallest number that reaches the tier by the tier rule itself (None: cannot).
                         "patients_more_strict": patients_strict(this.denominator, this.numerator,
                                                                 last_share + min_pp)}
    return {
        "status": "reported",
        "rule": rule,
        "tier": tier,
        "pays_fraction": float(pays),
        "pot_msek": _f(pot),
        "paid_msek": _f(pot * pays),
        "to_bonus_msek": _f(pot * (1 - pays)),
        "held_msek": 0.0,
        "share_within_30": _f(this_share),
        "last_year_share_within_30": _f(last_share),
        "change_pp": _f(change),
        "waiting_share_le30": _f(waiting_share),
        "numerator": this.numerator,
        "denominator": this.denominator,
        "next_tier": next_tier,
        "patients_to_75_percent": (patients_to_reach(this.denominator, this.numerator, Decimal(75))
                                   if this.denominator and this_share is not None and this_share < 75 else None),
        "note": None if last is not None else "ingen uppgift för samma månad föregående år: endast alternativ två",
    }


def unreported_outcome(pot: Decimal, final: bool) -> dict[str, Any]:
    """No record for the region, area and month: held until final, then target not met."""
    return {
        "status": "not_reported", "rule": None,
        "tier": "ej rapporterad; målet ej uppnått (rapporteringen är slutlig)" if final
                else "ej rapporterad; medlen hålls inne tills rapporteringen är slutlig",
        "pays_fraction": 0.0, "pot_msek": _f(pot), "paid_msek": 0.0,
        "to_bonus_msek": _f(pot) if final else 0.0, "held_msek": 0.0 if final else _f(pot),
        "share_within_30": None, "last_year_share_within_30": None, "change_pp": None,
        "waiting_share_le30": None, "numerator": None, "denominator": None, "next_tier": None,
        "patients_to_75_percent": None, "note": None,
    }


def queue_outcome(agr: dict[str, Any], rollup: Rollup, region: str, year: int, period: dict[str, Any],
                  region_share: Decimal, reported_through: int, final: bool) -> dict[str, Any]:
    """The queue target over one period: completed first visits against new on the list."""
    months = [f"{year}-{m:02d}" for m in period["months"]]
    cells = [rollup.region.get((region, "first_visit", m)) for m in months]
    completed = sum(c.completed_all for c in cells if c)
    new = sum(c.new_on_list for c in cells if c)
    missing = [m for m, c in zip(months, cells, strict=True) if c is None]
    pct = share(completed, new)
    tier = None
    for t in agr["queue_tiers"]:
        if pct is not None and (("above_pct" in t and pct > _d(t["above_pct"]))
                                or ("min_pct" in t and pct >= _d(t["min_pct"]))):
            tier = t
            break
    measured = agr["measured_months"][year]
    pot = _d(agr["areas"]["queue"]["annual_msek"]) * len(period["months"]) / len(measured) * region_share
    pays = _d(tier["pays"]) if tier else ZERO
    out = {"period": period["name"], "months": months, "payout": payout_of(agr, year, period["months"]),
           "new_on_list": new, "completed": completed, "difference": completed - new,
           "completed_per_new_pct": _f(pct), "pot_msek": _f(pot), "not_reported_months": missing}
    if max(period["months"]) > reported_through and not final:
        return {**out, "status": "open", "complete": False, "tier": None, "pays_fraction": None,
                "paid_msek": None, "to_bonus_msek": None, "held_msek": None,
                "note": "måluppfyllelse redovisas efter periodens slut (period not complete in the data)"}
    if missing:
        return {**out, "status": "not_reported", "complete": True, "tier": "ej rapporterad",
                "pays_fraction": 0.0, "paid_msek": 0.0,
                "to_bonus_msek": _f(pot) if final else 0.0, "held_msek": 0.0 if final else _f(pot),
                "note": ("ej rapporterade månader efter slutlig rapportering: målet ej uppnått" if final
                         else "ej rapporterade månader: medlen hålls inne tills rapporteringen är slutlig")}
    return {**out, "status": "reported", "complete": True, "tier": tier["label"] if tier else "målet ej uppnått",
            "pays_fraction": float(pays), "paid_msek": _f(pot * pays), "to_bonus_msek": _f(pot * (1 - pays)),
            "held_msek": 0.0, "note": None}


def _sum(rows: list[dict[str, Any]], key: str) -> Decimal:
    return sum((_d(r[key]) for r in rows if r.get(key) is not None), ZERO)


def money(agr: dict[str, Any], rollup: Rollup, year: int, shares: dict[str, Decimal], *,
          final: bool = False, regions: list[str] | None = None) -> dict[str, Any]:
    """Every region's performance money for the year, per payout, and the two bonus pots.

    `regions`: those to report (default: every region with a share). A region with a share
    and no data is not reported in every month, not "target not met".
    """
    measured = agr["measured_months"].get(year)
    if not measured:
        return {"year": year, "agreement_sha256": agr["sha256"], "final": final, "reported_through": None,
                "regions": [], "not_reported": [], "bonus_pots": {}, "payouts": [],
                "note": f"the agreement measures no month in {year}"}
    this_year = [int(m[5:]) for (_a, m) in rollup.nation if m[:4] == str(year) and int(m[5:]) in measured]
    reported_through = max(measured) if final else max(this_year, default=0)
    due = [m for m in measured if m <= reported_through]
    out_regions = []
    not_reported = []
    for region in sorted(regions if regions is not None else shares):
        s = shares.get(region, ZERO)
        months = []
        for m in due:
            month, last_month = f"{year}-{m:02d}", f"{year - 1}-{m:02d}"
            payout = payout_of(agr, year, [m])
            for area in AREAS:
                pot = monthly_pot(agr, area, year, s)
                this = rollup.region.get((region, area, month))
                if this is None:
                    not_reported.append({"region": region, "area": area, "month": month})
                    outcome = unreported_outcome(pot, final)
                else:
                    outcome = monthly_outcome(agr, this, rollup.region.get((region, area, last_month)), pot)
                months.append({"month": month, "area": area, "payout": payout, **outcome})
        queue = [queue_outcome(agr, rollup, region, year, p, s, reported_through, final)
                 for p in agr["queue_periods"].get(year, [])]
        rows = months + queue
        out_regions.append({"region": region, "share": float(s), "months": months, "queue": queue,
                            "paid_msek": _f(_sum(rows, "paid_msek")), "to_bonus_msek": _f(_sum(rows, "to_bonus_msek")),
                            "held_msek": _f(_sum(rows, "held_msek"))})
    bonus = bonus_pots(agr, out_regions, final)
    return {
        "year": year,
        "agreement_sha256": agr["sha256"],
        "final": final,
        "reported_through": f"{year}-{reported_through:02d}" if reported_through else None,
        "regions": out_regions,
        "not_reported": not_reported,
        "bonus_pots": bonus,
        "payouts": payouts(agr, year, out_regions, bonus),
    }


def _rows_of_pot(agr: dict[str, Any], region: dict[str, Any], pot: str) -> list[dict[str, Any]]:
    areas = agr["bonus_pots"][pot]["areas"]
    return [m for m in region["months"] if m["area"] in areas] + (region["queue"] if "queue" in areas else [])


def bonus_pots(agr: dict[str, Any], regions: list[dict[str, Any]], final: bool) -> dict[str, Any]:
    """Each pot: what went to it, shared by each region's part of the money paid for its requirements."""
    out = {}
    for name, spec in agr["bonus_pots"].items():
        into = sum((_sum(_rows_of_pot(agr, r, name), "to_bonus_msek") for r in regions), ZERO)
        paid = {r["region"]: _sum(_rows_of_pot(agr, r, name), "paid_msek") for r in regions}
        total_paid = sum(paid.values(), ZERO)
        shares = {}
        for r in regions:
            part = paid[r["region"]] / total_paid if total_paid else ZERO
            shares[r["region"]] = {"paid_for_requirements_msek": _f(paid[r["region"]]), "bonus_share": _f(part),
                                   "bonus_msek": _f(into * part)}
            r.setdefault("bonus", {})[name] = shares[r["region"]]
        out[name] = {"label_sv": spec["label_sv"], "areas": spec["areas"], "pot_msek": _f(into),
                     "paid_for_requirements_msek": _f(total_paid),
                     "undistributed_msek": _f(into if not total_paid else ZERO),
                     "provisional": not final,
                     "rule": "unpaid money of these requirements; shared at year end by each region's share of the "
                             "money paid for them that year (over the regions in the input)"}
    for r in regions:
        r["bonus_msek"] = _f(sum((_d(b["bonus_msek"]) for b in r["bonus"].values()), ZERO))
    return out


def payouts(agr: dict[str, Any], year: int, regions: list[dict[str, Any]],
            bonus: dict[str, Any]) -> list[dict[str, Any]]:
    """Money per payout (August, December) per region and in all, the bonus pots with the one that pays them."""
    out = []
    for p in agr["payouts"][year]:
        per_region = []
        for r in regions:
            rows = [m for m in r["months"] if m["payout"] == p["name"]] + [q for q in r["queue"]
                                                                            if q["payout"] == p["name"]]
            bonus_msek = _d(r["bonus_msek"]) if p.get("bonus_pots") else ZERO
            per_region.append({"region": r["region"], "paid_msek": _f(_sum(rows, "paid_msek")),
                               "held_msek": _f(_sum(rows, "held_msek")),
                               "to_bonus_msek": _f(_sum(rows, "to_bonus_msek")), "bonus_msek": _f(bonus_msek),
                               "total_msek": _f(_sum(rows, "paid_msek") + bonus_msek)})
        out.append({"payout": p["name"], "months": [f"{year}-{m:02d}" for m in p["months"]],
                    "pays_bonus_pots": bool(p.get("bonus_pots")),
                    "bonus_provisional": bool(p.get("bonus_pots")) and any(b["provisional"] for b in bonus.values()),
                    "regions": per_region,
                    **{k: _f(_sum(per_region, k)) for k in ("paid_msek", "held_msek", "to_bonus_msek", "bonus_msek",
                                                            "total_msek")}})
    return out
