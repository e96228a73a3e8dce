"""Fired rule + derived facts -> the answer of the HTTP contract (docs/reference.md): type, wait, explanation, warnings.

Everything said here comes from a table in rules/ (labels, wait start, exclusions,
warning texts) or from the rule that fired; this module only assembles it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from classifier.engine import Decision
from classifier.facts import Derived, commitment_window
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
    text = ruleset.tables["warnings"]["warnings"][code]
    values_en = values_en or {}
    out: dict[str, Any] = {
        "code": code,
        "message": text["message_en"].format(**values_en),
        "message_sv": text["message_sv"].format(**(values_sv or values_en)),
    }
    if item_ids is not None:
        out["items"] = item_ids
    return out


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


def _checklist_text(ruleset: RuleSet, derived: Derived, lang: str) -> str:
    """The items answered against the requirement and, separately, those not answered."""
    heads = {"en": ("not met", "not answered"), "sv": ("ej uppfyllt", "ej besvarat")}[lang]
    groups = [(heads[0], derived.checklist.not_met), (heads[1], derived.checklist.unanswered)]
    return "; ".join(f"{head}: {_items_text(ruleset, ids, lang)}" for head, ids in groups if ids)


def _rule_warning(ruleset: RuleSet, code: str, derived: Derived, contact: Contact) -> dict[str, Any]:
    if code == "direct_start_criteria_not_met":
        checklist = derived.checklist
        out = warning(
            ruleset, code, list(checklist.failed),
            {"items": _checklist_text(ruleset, derived, "en")},
            {"items": _checklist_text(ruleset, derived, "sv")},
        )
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


def wait(
    ruleset: RuleSet, outcome: str, contact: Contact, care_request: CareRequest | None
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The wait of a measurement point (docs/definitions.md §7), or None; and a warning if its start is missing."""
    ctype = ruleset.tables["contact_types"]["contact_types"][outcome]
    if not ctype["measurement_point"]:
        return None, []
    basis = ctype["wait_start"]
    if basis == "care_request_received":
        start = care_request.received_date if care_request is not None else None
        missing = "missing_care_request"
    else:
        start = contact.decision_date
        missing = "missing_decision_date"
    limit = ruleset.limit_days
    exclusion = contact.wait_exclusion
    out: dict[str, Any] = {
        "start_date": None,
        "start_basis": basis,
        "days": None,
        "limit_days": limit,
        "within_limit": None,
        "exclusion": exclusion,
        "in_numerator": None,
        "in_denominator": None,
    }
    if start is None:
        return out, [warning(ruleset, missing)]
    days = (contact.date - start).days
    rule = ruleset.tables["exclusions"]["codes"].get(exclusion) if exclusion else None
    in_numerator, in_denominator = counted(
        limit, (rule["excluded_from_numerator"], rule["excluded_from_denominator_from_days"]) if rule else None, days)
    out.update(start_date=iso(start), days=days, within_limit=days <= limit,
               in_numerator=in_numerator, in_denominator=in_denominator)
    return out, []


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
    ctype = ruleset.tables["contact_types"]["contact_types"][rule.outcome]
    wait_out, wait_warnings = wait(ruleset, rule.outcome, contact, care_request)
    if not explain:
        return {"contact_id": contact.id, "contact_type": rule.outcome,
                "measurement_point": bool(ctype["measurement_point"]), "wait": wait_out,
                "rule": {"id": rule.id, "stage": rule.stage},
                "warnings": [{"code": code} for code in decision.warning_codes] + wait_warnings
                + ([{"code": "provisional_medication"}] if provisional else []),
                "ruleset": ruleset.identity()}
    warnings = [_rule_warning(ruleset, code, derived, contact) for code in decision.warning_codes]
    warnings += wait_warnings
    if provisional is not None:
        warnings.append(_provisional_warning(ruleset, provisional))
    facts: dict[str, Any] = {f: derived.facts[f] for f in rule.used_facts}
    return {
        "contact_id": contact.id,
        "kva_codes": list(contact.kva_codes),
        "contact_type": rule.outcome,
        "label_sv": ctype["label_sv"],
        "label_en": ctype["label_en"],
        "measurement_point": bool(ctype["measurement_point"]),
        "care_guarantee": bool(ctype["care_guarantee"]),
        "wait": wait_out,
        "rule": {
            "id": rule.id,
            "stage": rule.stage,
            "title_sv": rule.title_sv,
            "title_en": rule.title_en,
            "source": rule.source,
        },
        "facts": facts,
        "commitment": commitment_window(derived, contact.date, rule.outcome in ruleset.commitment_types,
                                        ruleset.commitment_months),
        "warnings": warnings,
        "ruleset": ruleset.identity(),
    }
