"""Fired rule + derived facts -> the answer of the HTTP contract (docs/reference.md): type, wait, explanation, warnings.

Everything said here comes from a table in rules/ (labels, wait start, exclusions,
warning texts) or from the rule that fired; this module only assembles it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from classifier.engine import Decision
from classifier.facts import Checklist, Derived, commitment_window
from classifier.models import CareRequest, Contact, iso
from classifier.reporting.records import counted
from classifier.ruleset import RuleSet


def warning(
    ruleset: RuleSet,
    code: str,
    item_ids: list[str] | None = None,
    values_en: dict[str, str] | None = None,
    values_sv: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A warning with its English and Swedish message from tables/warnings.yaml."""
    message, message_sv = _messages(ruleset, code, values_en, values_sv)
    out: dict[str, Any] = {"code": code, "message": message, "message_sv": message_sv}
    if item_ids is not None:
        out["items"] = item_ids
    return out


# Texts already written, by the rule set's content hash and what went into them: the same few
# warnings (a missing care request, the same checklist items) recur on contact after contact.
_TEXTS: dict[tuple[Any, ...], tuple[str, str]] = {}


def _remembered(key: tuple[Any, ...], write: Callable[[], tuple[str, str]]) -> tuple[str, str]:
    found = _TEXTS.get(key)
    if found is None:
        if len(_TEXTS) > 10_000:  # bounded: medication codes are the caller's
            _TEXTS.clear()
        found = _TEXTS[key] = write()
    return found


def _messages(
    ruleset: RuleSet, code: str, values_en: dict[str, str] | None, values_sv: dict[str, str] | None
) -> tuple[str, str]:
    def write() -> tuple[str, str]:
        text = ruleset.tables["warnings"]["warnings"][code]
        en = values_en or {}
        return text["message_en"].format(**en), text["message_sv"].format(**(values_sv or en))

    key = (ruleset.sha256, code, tuple(values_en.items()) if values_en else (),
           tuple(values_sv.items()) if values_sv else ())
    return _remembered(key, write)


class Provisional(NamedTuple):
    """Started codes matched only by provisional medication entries that decided the answer (classify.py)."""

    matches: tuple[tuple[str, str], ...]  # (started ATC code, the provisional entry it matched)
    without: str  # the contact type the answer would have without those entries


def _provisional_warning(ruleset: RuleSet, p: Provisional) -> dict[str, Any]:
    """Warning provisional_medication: which codes, which entries, and what the answer would be without them."""
    types = ruleset.tables["contact_types"]["contact_types"]
    codes = ", ".join(dict.fromkeys(code for code, _ in p.matches))
    entries = ", ".join(dict.fromkeys(entry for _, entry in p.matches))
    return warning(ruleset, "provisional_medication", list(dict.fromkeys(code for code, _ in p.matches)),
                   {"codes": codes, "entries": entries, "without": types[p.without]["label_en"]},
                   {"codes": codes, "entries": entries, "without": types[p.without]["label_sv"]})


def _items_text(ruleset: RuleSet, ids: tuple[str, ...], lang: str) -> str:
    items = ruleset.checklist_by_id
    parts = []
    for fid in ids:
        if fid == "pathway":
            allowed = (" or " if lang == "en" else " eller ").join(
                ruleset.tables["checklist"]["pathways_allowing_direct_start"])
            parts.append(f"care request pathway is not {allowed}" if lang == "en"
                         else f"vårdbegäran har inte kommit via {allowed}")
        else:
            parts.append(f"{fid} {items[fid]['text_' + lang]}")
    return "; ".join(parts)


def _checklist_text(ruleset: RuleSet, checklist: Checklist, lang: str) -> str:
    """The items answered against the requirement and, separately, those not answered."""
    heads = {"en": ("not met", "not answered"), "sv": ("ej uppfyllt", "ej besvarat")}[lang]
    groups = [(heads[0], checklist.not_met), (heads[1], checklist.unanswered)]
    return "; ".join(f"{head}: {_items_text(ruleset, ids, lang)}" for head, ids in groups if ids)


def _rule_warning(ruleset: RuleSet, code: str, derived: Derived, contact: Contact) -> dict[str, Any]:
    if code == "direct_start_criteria_not_met":
        checklist = derived.checklist
        en, sv = _remembered(
            ("checklist", ruleset.sha256, checklist.not_met, checklist.unanswered),
            lambda: (_checklist_text(ruleset, checklist, "en"), _checklist_text(ruleset, checklist, "sv")))
        out = warning(ruleset, code, list(checklist.failed), {"items": en}, {"items": sv})
        out["items_not_met"] = list(checklist.not_met)
        out["items_not_answered"] = list(checklist.unanswered)
        return out
    if code == "medication_not_covered":
        codes = ", ".join(contact.medications_atc)
        return warning(
            ruleset, code, list(contact.medications_atc),
            {"codes": codes or "no ATC code sent"}, {"codes": codes or "ingen ATC-kod angiven"},
        )
    return warning(ruleset, code)


class _Type(NamedTuple):
    """What every answer of one contact type says about it (tables/contact_types.yaml), looked up once."""

    label_sv: str
    label_en: str
    measurement_point: bool
    care_guarantee: bool
    wait_start: str | None  # where its wait starts; None when it is not a measurement point
    continues: bool  # it opens or continues a care commitment


_TYPES: dict[tuple[str, str], _Type] = {}


def _type(ruleset: RuleSet, outcome: str) -> _Type:
    """The contact type's answer parts, once per rule set (its content hash: a changed rule set is its own key)
    and type: per answer they were a dozen table lookups."""
    key = (ruleset.sha256, outcome)
    found = _TYPES.get(key)
    if found is None:
        if len(_TYPES) > 10_000:  # tests load many rule sets; a service a few
            _TYPES.clear()
        spec = ruleset.tables["contact_types"]["contact_types"][outcome]
        point = bool(spec["measurement_point"])
        found = _TYPES[key] = _Type(spec["label_sv"], spec["label_en"], point, bool(spec["care_guarantee"]),
                                    spec["wait_start"] if point else None, outcome in ruleset.commitment_types)
    return found


def wait(
    ruleset: RuleSet, outcome: str, contact: Contact, care_request: CareRequest | None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The wait of a measurement point (docs/definitions.md §7), or None; and a warning if its start is missing."""
    basis = _type(ruleset, outcome).wait_start
    if basis is None:
        return None, []
    if basis == "care_request_received":
        start = care_request.received_date if care_request is not None else None
    else:
        start = contact.decision_date
    limit = ruleset.limit_days
    exclusion = contact.wait_exclusion
    if start is None:
        return {"start_date": None, "start_basis": basis, "days": None, "limit_days": limit, "within_limit": None,
                "exclusion": exclusion, "in_numerator": None, "in_denominator": None}, [
            warning(ruleset, "missing_care_request" if basis == "care_request_received" else "missing_decision_date")]
    days = (contact.date - start).days
    rule = ruleset.tables["exclusions"]["codes"].get(exclusion) if exclusion else None
    in_numerator, in_denominator = counted(
        limit, (rule["excluded_from_numerator"], rule["excluded_from_denominator_from_days"]) if rule else None, days)
    return {"start_date": iso(start), "start_basis": basis, "days": days, "limit_days": limit,
            "within_limit": days <= limit, "exclusion": exclusion, "in_numerator": in_numerator,
            "in_denominator": in_denominator}, []


def build(
    ruleset: RuleSet,
    decision: Decision,
    derived: Derived,
    contact: Contact,
    care_request: CareRequest | None,
    explain: bool = True,
    provisional: Provisional | None = None,
) -> dict[str, Any]:
    """The classification answer of the HTTP contract for one contact.

    `provisional`: the answer was decided by provisional entries of the medication list; it
    gets the warning provisional_medication (tables/warnings.yaml) naming them.

    `explain=False` (a batch that counts answers: the month, impact on an extract): the contact
    id, contact type, measurement point, wait, rule id and stage, warning codes and the rule set only, without
    the texts, facts and commitment that explain them to a reader.
    """
    rule = ruleset.rules_by_id[decision.rule_id]
    outcome = rule.outcome
    ctype = _type(ruleset, outcome)
    wait_out, wait_warnings = wait(ruleset, outcome, contact, care_request)
    if not explain:
        return {"contact_id": contact.id, "contact_type": outcome,
                "measurement_point": ctype.measurement_point, "wait": wait_out,
                "rule": {"id": rule.id, "stage": rule.stage},
                "warnings": [{"code": code} for code in decision.warning_codes] + wait_warnings
                + ([{"code": "provisional_medication"}] if provisional else []),
                "ruleset": ruleset.identity()}
    if decision.warning_codes:
        warnings = [_rule_warning(ruleset, code, derived, contact) for code in decision.warning_codes]
        warnings += wait_warnings
    else:
        warnings = wait_warnings
    if provisional is not None:
        warnings.append(_provisional_warning(ruleset, provisional))
    facts = derived.facts
    return {
        "contact_id": contact.id,
        "kva_codes": list(contact.kva_codes),
        "contact_type": outcome,
        "label_sv": ctype.label_sv,
        "label_en": ctype.label_en,
        "measurement_point": ctype.measurement_point,
        "care_guarantee": ctype.care_guarantee,
        "wait": wait_out,
        "rule": {
            "id": rule.id,
            "stage": rule.stage,
            "title_sv": rule.title_sv,
            "title_en": rule.title_en,
            "source": rule.source,
        },
        "facts": {f: facts[f] for f in rule.used_facts},
        "commitment": commitment_window(derived, contact.date, ctype.continues, ruleset.commitment_months),
        "warnings": warnings,
        "ruleset": ruleset.identity(),
    }
