"""The agreement's money rules (rules/agreement.yaml): tiers, pots, two bonus pots, block one, payouts.

Every sum carries the rule that paid it, the figures it was decided on and the tier, so
a region can check each krona against the monthly report. Each pot of a region, area
and month ends in exactly one of paid, to a bonus pot, held (not reported, not final) or
not yet due. Money is counted in whole öre (integers), thresholds are compared as exact
fractions, so nothing is met by rounding and every öre is accounted for (`conservation`).

Public functions for a caller with per-region counts (the national side): `money` (every
region's year: outcomes, bonus pots, payouts, block one, conservation), `monthly_outcome`
and `queue_outcome` (one pot), `block_one`, `national_regions`, `load_agreement`.
All are pure: they read their arguments (and the agreement they are given) only.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import yaml

from classifier.reporting.figures import AREAS, Counts, Rollup, round_half_up, share
from classifier.resources import data_dir

AGREEMENT = data_dir("rules") / "agreement.yaml"
REGIONS = data_dir("rules") / "regions.yaml"
ORE_PER_MSEK = 100_000_000
ZERO = Decimal(0)
Share = Fraction | Decimal | int


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
    # The tiers are read first match wins (alternative_one, queue_tiers): highest first, or a 10-point
    # improvement would pay the 1-point tier's 50 %. Every fraction paid is within 0–1.
    for key, limit in (("alternative_one", "min_pp"), ("queue_tiers", None)):
        tiers = doc[key]
        floors = [Fraction(str(t[limit] if limit else t.get("above_pct", t.get("min_pct")))) for t in tiers]
        pays = [Fraction(str(t["pays"])) for t in tiers]
        if floors != sorted(floors, reverse=True) or len(set(floors)) != len(floors) or pays != sorted(
                pays, reverse=True) or not all(0 <= x <= 1 for x in pays):
            raise AgreementError(f"{key}: tiers must go from the highest threshold down, each paying 0–1, "
                                 "a higher tier paying at least as much")
    block = doc.get("block_one") or {}
    for year, annual in (block.get("annual_msek") or {}).items():
        if Fraction(str(block["base_msek"])) * len(national_regions()) > Fraction(str(annual)):
            raise AgreementError(f"block_one.annual_msek.{year}: below the base of every region")
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


@functools.cache
def region_codes(path: str | None = None) -> dict[str, str]:
    """The 21 regions (rules/regions.yaml, their one home): name -> county code (länskod)."""
    listed = yaml.safe_load(Path(path or REGIONS).read_text(encoding="utf-8"))["regions"]
    found = {r["name"]: str(r["code"]) for r in listed}
    if len(found) != len(listed) or len(set(found.values())) != len(listed):
        raise AgreementError("regions.yaml: a region or a county code is listed twice")
    return found


def national_regions(path: str | None = None) -> tuple[str, ...]:
    """The 21 regions the bonus pots and block one are shared over (rules/regions.yaml)."""
    return tuple(region_codes(path))


# -- exact arithmetic --------------------------------------------------------------------------

def msek(ore: int | None) -> float | None:
    """Öre as mnkr for JSON and CSV (the öre themselves travel beside, as integers)."""
    return None if ore is None else ore / ORE_PER_MSEK


def to_ore(amount_msek: Share | float | str) -> int:
    """An amount in mnkr as whole öre, half up (1 mnkr = 100 000 000 öre)."""
    return _round(Fraction(str(amount_msek)) * ORE_PER_MSEK)


def _round(x: Fraction) -> int:
    """Half up (away from zero for the positive amounts money has)."""
    return math.floor(x + Fraction(1, 2))


def apportion(amounts: list[Fraction]) -> list[int]:
    """Exact amounts (in öre) as whole öre that sum to the rounded whole: largest remainder, ties by order."""
    floors = [math.floor(a) for a in amounts]
    left = _round(sum(amounts, Fraction(0))) - sum(floors)
    order = sorted(range(len(amounts)), key=lambda i: (-(amounts[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return floors


def split(total: int, weights: list[int]) -> list[int]:
    """Whole öre split by weights, the parts summing to `total` exactly (all to the first when weights are 0)."""
    w = sum(weights)
    if not w:
        return [total] + [0] * (len(weights) - 1)
    return apportion([Fraction(total * x, w) for x in weights])


def _decimal(x: Share | float) -> Decimal:
    if isinstance(x, Fraction):
        return Decimal(x.numerator) / Decimal(x.denominator)
    return Decimal(str(x)) if isinstance(x, float) else Decimal(x)


def sv_number(x: Share | float, decimals: int = 1) -> str:
    """A number as Swedish prints it: decimal comma, a space between thousands, a real minus sign."""
    d = round_half_up(_decimal(x), decimals)
    return ("−" if d < 0 else "") + f"{abs(d):,.{decimals}f}".replace(",", " ").replace(".", ",")


def en_number(x: Share | float, decimals: int = 1) -> str:
    """The same number as English prints it (the English half of each reason)."""
    return f"{round_half_up(_decimal(x), decimals):,.{decimals}f}"


def _places(x: Fraction | Decimal) -> int:
    """How many decimals a figure in a reason is shown with: a whole number none, a near miss three
    (74,975 % must not print as 75,0 %), else one."""
    if x == int(x):
        return 0
    return 3 if abs(x) < 1 else 1


def _words(agr: dict[str, Any], kind: str, key: str, **values: Any) -> dict[str, str]:
    """One status or reason in Swedish and English (agreement.yaml `words`), numbers formatted for each."""
    text = agr["words"][kind][key]

    def fill(lang: str) -> str:
        fmt = sv_number if lang == "sv" else en_number
        return text[lang].format(**{k: fmt(*v) if isinstance(v, tuple) else fmt(v, 0) if isinstance(v, int) else v
                                    for k, v in values.items()})
    return {"code": key, "sv": fill("sv"), "en": fill("en")}


# -- pots --------------------------------------------------------------------------------------

def pot_of(agr: dict[str, Any], area: str) -> str:
    """The bonus pot an area's unpaid money goes to."""
    return next(name for name, pot in agr["bonus_pots"].items() if area in pot["areas"])


def payout_of(agr: dict[str, Any], year: int, months: list[int]) -> str:
    return next(p["name"] for p in agr["payouts"][year] if set(months) <= set(p["months"]))


def annual_pots(agr: dict[str, Any], shares: Mapping[str, Share], regions: Iterable[str]) -> dict[tuple[str, str], int]:
    """Each region's annual amount per area, in öre: the area's amount × its share, apportioned together
    so the parts sum to the areas' amounts × the shares, to the öre."""
    keys = [(r, a) for r in regions for a in agr["areas"]]
    exact = [Fraction(str(agr["areas"][a]["annual_msek"])) * ORE_PER_MSEK * Fraction(shares.get(r, 0))
             for r, a in keys]
    return dict(zip(keys, apportion(exact), strict=True))


def monthly_pot(agr: dict[str, Any], area: str, year: int, region_share: Share) -> int:
    """One region's nominal pot for one area and measured month, in öre (annual / measured months × share,
    half up), as SKR's report prints the maximum. `money` splits the region's annual amount over the months
    so they sum to it exactly (the odd öre to the earliest months), so a month there may be one öre above."""
    months = agr["measured_months"][year]
    return _round(Fraction(str(agr["areas"][area]["annual_msek"])) * ORE_PER_MSEK * Fraction(region_share)
                  / len(months))


def _money_fields(pot: int, paid: int | None, to_bonus: int | None, held: int | None,
                  not_yet_due: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, v in (("pot", pot), ("paid", paid), ("to_bonus", to_bonus), ("held", held),
                    ("not_yet_due", not_yet_due)):
        out[f"{name}_msek"], out[f"{name}_ore"] = msek(v), v
    return out


# -- one pot -----------------------------------------------------------------------------------

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


def patients_exact(den: int, num: int, target_pct: Fraction) -> int:
    """The fewest more patients for num/den to be at least target_pct exactly (no rounding)."""
    return max(math.ceil(Fraction(den) * target_pct / 100) - num, 0)


def at_least(num: int, den: int, target_pct: Fraction) -> bool:
    """num/den ≥ target_pct %, exactly (cross-multiplied): 74.975 % is not at least 75 %."""
    return num * 100 * target_pct.denominator >= den * target_pct.numerator


def _pct(x: Any) -> Fraction:
    return Fraction(str(x))


def _alternative_one(agr: dict[str, Any], this: Counts, last: Counts | None,
                     this_share: Decimal | None) -> tuple[dict[str, Any] | None, Decimal | None, Decimal | None,
                                                          dict[str, str] | None]:
    """The tier alternative one reaches (shares as printed, one decimal), the change, and why it failed."""
    last_share = share(last.numerator, last.denominator) if last else None
    if this_share is None or last_share is None:
        return None, last_share, None, _words(agr, "reason", "alternative_one_not_judged")
    change = this_share - last_share
    tier = next((t for t in agr["alternative_one"] if change >= Decimal(str(t["min_pp"]))), None)
    if tier is not None:
        return tier, last_share, change, None
    need = Decimal(str(agr["alternative_one"][-1]["min_pp"]))
    patients = patients_strict(this.denominator, this.numerator, last_share + need)
    values = {"change": (change,), "last": (last_share,), "need": (need,), "short": (need - change,)}
    if patients is None:
        return None, last_share, change, _words(agr, "reason", "alternative_one_unreachable", **values)
    return None, last_share, change, _words(agr, "reason", "alternative_one_failed", **values, patients=patients)


def _alternative_two(agr: dict[str, Any], this: Counts) -> tuple[bool, list[dict[str, str]], bool]:
    """Whether alternative two holds (exact), why not, and whether nobody was waiting."""
    two = agr["alternative_two"]
    need_done, need_wait = _pct(two["min_completed_share"]), _pct(two["min_waiting_share"])
    reasons = []
    done_ok = at_least(this.numerator, this.denominator, need_done)
    if not done_ok:
        exact = Fraction(this.numerator * 100, this.denominator)
        reasons.append(_words(agr, "reason", "alternative_two_completed_failed",
                              share=(exact, _places(need_done - exact)), numerator=this.numerator,
                              denominator=this.denominator, need=(need_done, _places(need_done)),
                              short=(need_done - exact, _places(need_done - exact)),
                              patients=patients_exact(this.denominator, this.numerator, need_done)))
    nobody = this.waiting == 0 and this.waiting_given
    wait_ok = nobody or (this.waiting > 0 and at_least(this.waiting_le30, this.waiting, need_wait))
    if not this.waiting_given and not this.waiting:
        reasons.append(_words(agr, "reason", "alternative_two_no_waiting"))
    elif not wait_ok:
        exact = Fraction(this.waiting_le30 * 100, this.waiting)
        reasons.append(_words(agr, "reason", "alternative_two_waiting_failed",
                              share=(exact, _places(need_wait - exact)), le30=this.waiting_le30,
                              waiting=this.waiting, need=(need_wait, _places(need_wait)),
                              short=(need_wait - exact, _places(need_wait - exact)),
                              patients=patients_exact(this.waiting, this.waiting_le30, need_wait)))
    return done_ok and wait_ok, reasons, nobody


def monthly_outcome(agr: dict[str, Any], this: Counts, last: Counts | None, pot: int) -> dict[str, Any]:
    """Alternative one or two for one region, area and reported month (pot in öre): what it pays, and why.

    Nothing completed (denominator 0) is its own status: neither alternative can be judged,
    the money is not earned (to the bonus pot), and the outcome says so in words.
    """
    this_share = share(this.numerator, this.denominator)
    waiting_share = share(this.waiting_le30, this.waiting)
    base: dict[str, Any] = {
        "share_within_30": _f(this_share), "waiting_share_le30": _f(waiting_share),
        "numerator": this.numerator, "denominator": this.denominator, "waiting": this.waiting,
        "waiting_le30": this.waiting_le30, "nobody_waiting": this.waiting == 0 and this.waiting_given,
    }
    if not this.denominator:
        last_share = share(last.numerator, last.denominator) if last else None
        return {"status": "nothing_completed", "status_words": _words(agr, "status", "nothing_completed"),
                "rule": None, "tier": agr["words"]["status"]["nothing_completed"]["sv"], "pays_fraction": 0.0,
                **_money_fields(pot, 0, pot, 0), **base, "last_year_share_within_30": _f(last_share),
                "change_pp": None, "next_tier": None, "patients_to_75_percent": None, "why_not_met": [],
                "note": None}
    alt1, last_share, change, why1 = _alternative_one(agr, this, last, this_share)
    alt2_met, why2, nobody = _alternative_two(agr, this)
    two = agr["alternative_two"]
    candidates = [(Fraction(str(alt1["pays"])), "alternative_one", alt1["label"])] if alt1 else []
    if alt2_met:
        candidates.append((Fraction(str(two["pays"])), "alternative_two",
                           f"minst {sv_number(_pct(two['min_completed_share']), 0)} % genomförda och väntande "
                           "inom 30 dagar"))
    pays, rule, tier = max(candidates, default=(Fraction(0), None, "målet ej uppnått"))
    paid = _round(pot * pays)

    next_tier = None
    if last is not None and last.denominator and last_share is not None:
        exact_last = Decimal(last.numerator) * 100 / Decimal(last.denominator)
        higher = [t for t in reversed(agr["alternative_one"]) if Fraction(str(t["pays"])) > pays]
        if higher:
            t = higher[0]
            min_pp = Decimal(str(t["min_pp"]))
            next_tier = {"tier": t["label"], "pays": float(t["pays"]),
                         # SKR's convention (agreement.yaml `rounding`): reproduces its monthly report.
                         "patients_more_within_30_days": patients_to_reach(
                             this.denominator, this.numerator, exact_last + min_pp),
                         # The smallest number that reaches the tier by the tier rule itself (None: cannot).
                         "patients_more_strict": patients_strict(this.denominator, this.numerator,
                                                                 last_share + min_pp)}
    need75 = _pct(two["min_completed_share"])
    return {
        "status": "reported",
        "status_words": (_words(agr, "status", "nobody_waiting") if nobody
                         else _words(agr, "status", "reported")),
        "rule": rule,
        "tier": tier,
        "pays_fraction": float(pays),
        **_money_fields(pot, paid, pot - paid, 0),
        **base,
        "last_year_share_within_30": _f(last_share),
        "change_pp": _f(change),
        "next_tier": next_tier,
        "patients_to_75_percent": (None if at_least(this.numerator, this.denominator, need75)
                                   else patients_exact(this.denominator, this.numerator, need75)),
        # Why the month did not pay in full: each alternative that failed, by how much, how many patients short.
        "why_not_met": [] if pays == 1 else [w for w in [why1, *why2] if w is not None],
        "note": None if last is not None else "ingen uppgift för samma månad föregående år: endast alternativ två",
    }


def _f(d: Decimal | None) -> float | None:
    return None if d is None else float(d)


def unreported_outcome(agr: dict[str, Any], pot: int, final: bool) -> dict[str, Any]:
    """No record for the region, area and month: held until final, then target not met (pot in öre)."""
    return {
        "status": "not_reported",
        "status_words": {"code": "not_reported",
                         "sv": "ej rapporterad" + ("; målet ej uppnått (rapporteringen är slutlig)" if final
                                                   else "; medlen hålls inne tills rapporteringen är slutlig"),
                         "en": "not reported" + ("; target not met (the reporting is final)" if final
                                                 else "; the money is held until the reporting is final")},
        "rule": None,
        "tier": "ej rapporterad; målet ej uppnått (rapporteringen är slutlig)" if final
                else "ej rapporterad; medlen hålls inne tills rapporteringen är slutlig",
        "pays_fraction": 0.0, **_money_fields(pot, 0, pot if final else 0, 0 if final else pot),
        "share_within_30": None, "waiting_share_le30": None, "numerator": None, "denominator": None,
        "waiting": None, "waiting_le30": None, "nobody_waiting": None, "last_year_share_within_30": None,
        "change_pp": None, "next_tier": None, "patients_to_75_percent": None, "why_not_met": [], "note": None,
    }


def queue_tier(agr: dict[str, Any], completed: int, new: int) -> dict[str, Any] | None:
    """The tier the exact ratio completed/new reaches (1,999 against 2,000 reaches none)."""
    if not new:
        return None
    ratio = Fraction(completed * 100, new)
    for t in agr["queue_tiers"]:
        if ("above_pct" in t and ratio > _pct(t["above_pct"])) or ("min_pct" in t and ratio >= _pct(t["min_pct"])):
            return t
    return None


def queue_outcome(agr: dict[str, Any], rollup: Rollup, region: str, year: int, period: dict[str, Any],
                  pot: int, reported_through: int, final: bool) -> dict[str, Any]:
    """The queue target over one period (pot in öre): completed first visits against new on the list,
    the period's direct starts beside them."""
    months = [f"{year}-{m:02d}" for m in period["months"]]
    cells = [rollup.region.get((region, "first_visit", m)) for m in months]
    completed = sum(c.completed_all for c in cells if c)
    new = sum(c.new_on_list for c in cells if c)
    # a month whose direct starts were not delivered makes the period's sum unknown: null, never a partial sum
    direct_unknown = [m for m, c in zip(months, cells, strict=True) if c is not None and c.direct_starts_unknown]
    direct = None if direct_unknown else sum(c.direct_starts for c in cells if c)
    missing = [m for m, c in zip(months, cells, strict=True) if c is None]
    unknown = [m for m, c in zip(months, cells, strict=True) if c is not None and c.queue_unknown]
    known = len(missing) < len(months)  # no month of the period reported: its figures are unknown, not 0
    out = {"period": period["name"], "months": months, "payout": payout_of(agr, year, period["months"]),
           "new_on_list": new if known else None, "completed": completed if known else None,
           "difference": completed - new if known else None, "direct_starts": direct if known else None,
           "direct_starts_unknown_months": direct_unknown,
           "completed_per_new_pct": _f(share(completed, new)) if known else None,
           "not_reported_months": missing,
           "figures_missing_months": unknown, "why_not_met": []}
    if max(period["months"]) > reported_through and not final:
        return {**out, "status": "open", "complete": False, "tier": None, "pays_fraction": None,
                **_money_fields(pot, None, None, None, pot),
                "status_words": {"code": "open", "sv": "perioden är inte slut: måluppfyllelse redovisas efter "
                                 "periodens slut", "en": "the period is not over: judged after its end"},
                "note": "måluppfyllelse redovisas efter periodens slut (period not complete in the data)"}
    if missing:
        return {**out, "status": "not_reported", "complete": True, "tier": "ej rapporterad",
                "pays_fraction": 0.0, **_money_fields(pot, 0, pot if final else 0, 0 if final else pot),
                "status_words": {"code": "not_reported", "sv": "ej rapporterade månader", "en": "months not reported"},
                "note": ("ej rapporterade månader efter slutlig rapportering: målet ej uppnått" if final
                         else "ej rapporterade månader: medlen hålls inne tills rapporteringen är slutlig")}
    if unknown:
        # Months reported without the queue's figures (a counts row without new_on_list or completed_all,
        # contacts without a waiting list): unknown is not 0, so the ratio is not computed and the money is
        # held as for a month not reported, until the reporting is final (then: target not met).
        months_sv = ", ".join(unknown)
        return {**out, "status": "figures_missing", "complete": True, "tier": "uppgifter saknas",
                "pays_fraction": 0.0, **_money_fields(pot, 0, pot if final else 0, 0 if final else pot),
                "new_on_list": None, "completed": None, "difference": None, "completed_per_new_pct": None,
                "status_words": {"code": "figures_missing",
                                 "sv": f"nytillkomna eller genomförda första besök saknas för {months_sv}: kvoten "
                                       "beräknas inte" + ("; målet ej uppnått (rapporteringen är slutlig)" if final
                                                          else "; medlen hålls inne tills uppgifterna kommer in"),
                                 "en": f"new on the list or completed first visits are missing for {months_sv}: "
                                       "the ratio is not computed" + ("; target not met (the reporting is final)"
                                                                      if final else "; the money is held until "
                                                                      "the figures come in")},
                "note": None}
    if not new:
        words = _words(agr, "status", "no_new_on_list")
        return {**out, "status": "no_new_on_list", "complete": True, "tier": words["sv"], "pays_fraction": 0.0,
                **_money_fields(pot, 0, pot, 0), "status_words": words, "note": None}
    tier = queue_tier(agr, completed, new)
    pays = Fraction(str(tier["pays"])) if tier else Fraction(0)
    paid = _round(pot * pays)
    why = [] if tier else [_words(agr, "reason", "queue_failed", completed=completed, new=new,
                                  pct=(Fraction(completed * 100, new), _places(100 - Fraction(completed * 100, new))),
                                  patients=new - completed)]
    return {**out, "status": "reported", "complete": True, "tier": tier["label"] if tier else "målet ej uppnått",
            "pays_fraction": float(pays), **_money_fields(pot, paid, pot - paid, 0),
            "status_words": _words(agr, "status", "reported"), "why_not_met": why, "note": None}


# -- the year ----------------------------------------------------------------------------------

def _sum(rows: Iterable[Mapping[str, Any]], key: str) -> int:
    return sum(r[key] for r in rows if r.get(key) is not None)


def coverage(shares: Mapping[str, Share], regions: Iterable[str], data_regions: Iterable[str] = ()) -> dict[str, Any]:
    """Whether the input covers all 21 regions and their shares sum to 1: else every bonus figure is partial.

    `regions` are those reported (with a share); `data_regions` those with figures: a name among
    either that is not one of the 21 is named too (the pots cannot be shared over it).
    """
    given = set(regions)
    national = national_regions()
    missing = [r for r in national if r not in given]
    unknown = sorted((given | set(data_regions)) - set(national))
    total = sum((Fraction(shares.get(r, 0)) for r in given), Fraction(0))
    notes_sv, notes_en = [], []
    if missing:
        notes_sv.append(f"{len(missing)} av {len(national)} regioner saknas i underlaget: " + ", ".join(missing))
        notes_en.append(f"{len(missing)} of {len(national)} regions are missing from the input: " + ", ".join(missing))
    if unknown:
        notes_sv.append("okända regionnamn (inte bland de 21 i rules/regions.yaml): " + ", ".join(unknown))
        notes_en.append("unknown region names (not among the 21 in rules/regions.yaml): " + ", ".join(unknown))
    if total != 1:
        notes_sv.append(f"andelarna av de nationella potterna summerar till {sv_number(total, 6)}, inte 1")
        notes_en.append(f"the shares of the national pots sum to {en_number(total, 6)}, not 1")
    return {"partial": bool(missing or unknown or total != 1), "missing_regions": missing,
            "unknown_regions": unknown, "shares_sum": float(total), "shares_sum_is_one": total == 1,
            "sv": "; ".join(notes_sv), "en": "; ".join(notes_en)}


def money(agr: dict[str, Any], rollup: Rollup, year: int, shares: Mapping[str, Share], *,
          final: bool = False, regions: list[str] | None = None,
          population: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Every region's performance money for the year, per payout, the two bonus pots, block one, conservation.

    `regions`: those to report (default: every region with a share). A region with a share
    and no data is not reported in every month, not "target not met". `population`: each
    region's population aged 0–18 (block one; without it no block-one figure).
    """
    report_regions = sorted(regions if regions is not None else shares)
    data_regions = {r for (r, _a, _m) in rollup.region}
    cover = coverage(shares, report_regions, data_regions)
    measured = agr["measured_months"].get(year)
    if not measured:
        return {"year": year, "agreement_sha256": agr["sha256"], "final": final, "reported_through": None,
                "regions": [], "not_reported": [], "bonus_pots": {}, "payouts": [], "coverage": cover,
                "block_one": block_one(agr, year, population),
                "conservation": {"expected_ore": 0, "paid_ore": 0, "held_ore": 0, "not_yet_due_ore": 0,
                                 "bonus_shared_ore": 0, "undistributed_ore": 0, "balanced": True},
                "note": f"the agreement measures no month in {year}"}
    this_year = [int(m[5:]) for (_a, m) in rollup.nation if m[:4] == str(year) and int(m[5:]) in measured]
    reported_through = max(measured) if final else max(this_year, default=0)
    annual = annual_pots(agr, shares, report_regions)
    periods = agr["queue_periods"].get(year, [])
    out_regions = []
    not_reported = []
    for region in report_regions:
        months = []
        not_yet_due = 0
        for area in AREAS:
            for m, pot in zip(measured, split(annual[(region, area)], [1] * len(measured)), strict=True):
                if m > reported_through:
                    not_yet_due += pot
                    continue
                month, last_month = f"{year}-{m:02d}", f"{year - 1}-{m:02d}"
                this = rollup.region.get((region, area, month))
                if this is None:
                    not_reported.append({"region": region, "area": area, "month": month})
                    outcome = unreported_outcome(agr, pot, final)
                else:
                    outcome = monthly_outcome(agr, this, rollup.region.get((region, area, last_month)), pot)
                months.append({"month": month, "area": area, "payout": payout_of(agr, year, [m]), **outcome})
        months.sort(key=lambda r: (r["month"], AREAS.index(r["area"])))
        queue_pots = split(annual[(region, "queue")], [len(p["months"]) for p in periods]) if periods else []
        queue = [queue_outcome(agr, rollup, region, year, p, pot, reported_through, final)
                 for p, pot in zip(periods, queue_pots, strict=True)]
        if not periods:
            not_yet_due += annual[(region, "queue")]  # no queue period this year: nothing can pay it
        rows = months + queue
        sums = {k: _sum(rows, f"{k}_ore") for k in ("paid", "to_bonus", "held")}
        sums["not_yet_due"] = not_yet_due + _sum(queue, "not_yet_due_ore")
        out_regions.append({"region": region, "share": float(Fraction(shares.get(region, 0))), "months": months,
                            "queue": queue, **{f"{k}_ore": v for k, v in sums.items()},
                            **{f"{k}_msek": msek(v) for k, v in sums.items()}})
    bonus = bonus_pots(agr, out_regions, final, cover)
    result = {
        "year": year,
        "agreement_sha256": agr["sha256"],
        "final": final,
        "reported_through": f"{year}-{reported_through:02d}" if reported_through else None,
        "regions": out_regions,
        "not_reported": not_reported,
        "coverage": cover,
        "bonus_pots": bonus,
        "payouts": payouts(agr, year, out_regions, bonus),
        "block_one": block_one(agr, year, population),
    }
    result["conservation"] = conservation(result, sum(annual.values()))
    return result


def conservation(result: Mapping[str, Any], expected: int) -> dict[str, Any]:
    """paid + held + not yet due + bonus shared + undistributed = the areas' annual amounts × the shares."""
    regions = result["regions"]
    parts = {"paid_ore": _sum(regions, "paid_ore"), "held_ore": _sum(regions, "held_ore"),
             "not_yet_due_ore": _sum(regions, "not_yet_due_ore"),
             "bonus_shared_ore": sum(_sum(r["bonus"].values(), "bonus_ore") for r in regions),
             "undistributed_ore": _sum(result["bonus_pots"].values(), "undistributed_ore")}
    return {"expected_ore": expected, **parts, "balanced": sum(parts.values()) == expected}


def _rows_of_pot(agr: dict[str, Any], region: dict[str, Any], pot: str) -> list[dict[str, Any]]:
    areas = agr["bonus_pots"][pot]["areas"]
    return [m for m in region["months"] if m["area"] in areas] + (region["queue"] if "queue" in areas else [])


def bonus_pots(agr: dict[str, Any], regions: list[dict[str, Any]], final: bool,
               cover: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Each pot: what went to it, shared by each region's part of the money paid for its requirements.

    Over all 21 regions: with regions missing or shares not summing to 1 (`cover`), every
    figure is marked partial, and a region's share of a partial pot is never in its payout total.
    """
    partial = bool(cover and cover["partial"])
    out = {}
    for name, spec in agr["bonus_pots"].items():
        into = sum(_sum(_rows_of_pot(agr, r, name), "to_bonus_ore") for r in regions)
        paid = [_sum(_rows_of_pot(agr, r, name), "paid_ore") for r in regions]
        total_paid = sum(paid)
        parts = split(into, paid) if total_paid else [0] * len(regions)
        for r, p, part in zip(regions, paid, parts, strict=True):
            r.setdefault("bonus", {})[name] = {
                "paid_for_requirements_msek": msek(p), "paid_for_requirements_ore": p,
                "bonus_share": float(Fraction(p, total_paid)) if total_paid else 0.0,
                "bonus_msek": msek(part), "bonus_ore": part, "partial": partial}
        out[name] = {"label_sv": spec["label_sv"], "areas": spec["areas"], "pot_msek": msek(into), "pot_ore": into,
                     "paid_for_requirements_ore": total_paid, "paid_for_requirements_msek": msek(total_paid),
                     "undistributed_msek": msek(0 if total_paid else into),
                     "undistributed_ore": 0 if total_paid else into,
                     "provisional": not final, "partial": partial,
                     "missing_regions": list(cover["missing_regions"]) if cover else [],
                     "rule": "unpaid money of these requirements; shared at year end by each region's share of the "
                             "money paid for them that year, over all 21 regions"}
    for r in regions:
        r["bonus_ore"] = sum(b["bonus_ore"] for b in r.get("bonus", {}).values())
        r["bonus_msek"] = msek(r["bonus_ore"])
        r["bonus_partial"] = partial
    return out


def payouts(agr: dict[str, Any], year: int, regions: list[dict[str, Any]],
            bonus: dict[str, Any]) -> list[dict[str, Any]]:
    """Money per payout (August, December) per region and in all, the bonus pots with the one that pays them.

    A partial bonus pot is shown (bonus_msek, bonus_partial) but never added to a total.
    """
    partial = any(b["partial"] for b in bonus.values())
    out = []
    for p in agr["payouts"][year]:
        per_region = []
        for r in regions:
            rows = [m for m in r["months"] if m["payout"] == p["name"]] + [q for q in r["queue"]
                                                                            if q["payout"] == p["name"]]
            bonus_ore = r["bonus_ore"] if p.get("bonus_pots") else 0
            paid = _sum(rows, "paid_ore")
            sums = {"paid": paid, "held": _sum(rows, "held_ore"), "to_bonus": _sum(rows, "to_bonus_ore"),
                    "bonus": bonus_ore, "total": paid + (0 if partial else bonus_ore)}
            per_region.append({"region": r["region"], **{f"{k}_msek": msek(v) for k, v in sums.items()},
                               **{f"{k}_ore": v for k, v in sums.items()}})
        totals = {k: sum(x[f"{k}_ore"] for x in per_region) for k in ("paid", "held", "to_bonus", "bonus", "total")}
        out.append({"payout": p["name"], "months": [f"{year}-{m:02d}" for m in p["months"]],
                    "pays_bonus_pots": bool(p.get("bonus_pots")),
                    "bonus_provisional": bool(p.get("bonus_pots")) and any(b["provisional"] for b in bonus.values()),
                    "bonus_partial": bool(p.get("bonus_pots")) and partial,
                    "regions": per_region, **{f"{k}_msek": msek(v) for k, v in totals.items()},
                    **{f"{k}_ore": v for k, v in totals.items()}})
    return out


def block_one(agr: dict[str, Any], year: int, population: Mapping[str, int] | None) -> dict[str, Any]:
    """Block one (development work): each of the 21 regions a base, the rest by population aged 0–18.

    The population is input data, never guessed: without it there is no figure. The rest is
    divided by each region's part of the population of all 21 regions, so while any region's
    population is missing (or a name is not one of the 21, or the population sums to 0) that
    part cannot be computed: every region's `by_population` and `total` are null, the answer
    says why, and only the base (which needs no population) is given. The öre of the rest are
    apportioned by largest remainder, ties to the region first in code-point order of its name,
    so the regions' totals sum to the year's amount exactly.
    """
    spec = agr.get("block_one") or {}
    annual = (spec.get("annual_msek") or {}).get(year)
    label = spec.get("label_sv", "Block ett")
    if annual is None:
        return {"label_sv": label, "status": "not_in_agreement", "regions": [],
                "note_sv": f"överenskommelsen har inget block ett för {year}",
                "note_en": f"the agreement has no block one for {year}"}
    if not population:
        return {"label_sv": label, "status": "no_population", "regions": [], "annual_msek": float(annual),
                "note_sv": "ingen befolkningsuppgift (0–18 år) i underlaget: block ett visas inte",
                "note_en": "no population (aged 0–18) in the input: block one is not shown"}
    national = national_regions()
    bad = [r for r, n in population.items() if not isinstance(n, int) or isinstance(n, bool) or n < 0]
    if bad:
        raise ValueError(f"population: expected a whole number of at least 0 for {', '.join(sorted(bad))}")
    total_ore = to_ore(annual)
    base_ore = to_ore(spec["base_msek"])
    rest = total_ore - base_ore * len(national)
    missing = [r for r in national if r not in population]
    unknown = sorted(set(population) - set(national))
    people = sum(population[r] for r in national if r in population)
    regions = sorted(national)
    notes_sv, notes_en = [], []
    if missing:
        notes_sv.append(f"befolkning saknas för {len(missing)} av {len(national)} regioner: " + ", ".join(missing))
        notes_en.append(f"the population is missing for {len(missing)} of {len(national)} regions: "
                        + ", ".join(missing))
    if unknown:
        notes_sv.append("okända regionnamn (inte bland de 21 i rules/regions.yaml): " + ", ".join(unknown))
        notes_en.append("unknown region names (not among the 21 in rules/regions.yaml): " + ", ".join(unknown))
    if not missing and not unknown and not people:
        notes_sv.append("befolkningen summerar till 0")
        notes_en.append("the population sums to 0")
    computed = not notes_sv
    by_population: list[int | None] = (split(rest, [population[r] for r in regions]) if computed
                                       else [None] * len(regions))
    rows = [{"region": r, "population_0_18": population.get(r), "base_msek": msek(base_ore), "base_ore": base_ore,
             "by_population_msek": msek(p), "by_population_ore": p,
             "total_msek": msek(None if p is None else base_ore + p),
             "total_ore": None if p is None else base_ore + p} for r, p in zip(regions, by_population, strict=True)]
    partial = bool(missing or unknown)
    why_sv = ("; ".join(notes_sv) + ". Resten fördelas efter varje regions andel av befolkningen i alla 21 "
              "regioner, så delen efter befolkning (och summan) beräknas inte; bara grundbeloppet visas.")
    why_en = ("; ".join(notes_en) + ". The rest is divided by each region's part of the population of all 21 "
              "regions, so the part by population (and the total) is not computed; only the base is shown.")
    return {"label_sv": label, "status": "complete" if computed else "partial" if partial else "population_zero",
            "partial": partial, "by_population_computed": computed,
            "annual_msek": float(annual), "base_msek": msek(base_ore), "rest_msek": msek(rest),
            "missing_regions": missing, "unknown_regions": unknown, "regions": rows,
            # every region's total, summed: the year's amount to the öre once the part by population is computed
            "distributed_ore": sum(r["total_ore"] for r in rows) if computed else None,
            "note_sv": None if computed else why_sv, "note_en": None if computed else why_en}
