"""The rule files' schema: every file under rules/ as a pydantic model, unknown keys forbidden.

A misspelt key in a rule file must not be read as "absent": `whne` under a warning
would make the warning unconditional, `sourc` would drop a rule's source. So every
level (ruleset.yaml, facts.yaml, stage files, rules, warnings, each table) forbids
keys it does not know, and a wrong type is an error, not a coercion (`version: 2026.10`
is the number 2026.1). `format_errors` turns pydantic's errors into lines naming the
file, the rule id and what was expected. Cross-checks between files and against the
request model (classifier/models.py, the API contract) are done by `ruleset.load`.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from classifier.models import ContactForm, ContactType, Exclusion, Pathway, RuleSetStatus, WaitBasis

# The engine names its compiled rules `ID#n` and `ID!warning_code#n` and reads them back
# from JSON action messages, so ids and codes must never contain '!', '#' or '"'.
RULE_ID = r"^[A-Z][A-Z0-9_]{0,15}$"
CODE = r"^[a-z][a-z0-9_]{0,63}$"

Text = Annotated[StrictStr, Field(min_length=1, pattern=r"\S")]
RuleId = Annotated[StrictStr, Field(pattern=RULE_ID)]
Code = Annotated[StrictStr, Field(pattern=CODE)]
RelPath = Annotated[StrictStr, Field(pattern=r"^[\w./-]+\.yaml$")]
Condition = dict[StrictStr | StrictBool, Any]  # parsed and checked by classifier.conditions


def _version(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError(
            f"expected a quoted string such as \"2026.10\", got the {type(value).__name__} {value!r} "
            "(YAML reads an unquoted 2026.10 as the number 2026.1)"
        )
    return value


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


# ---- ruleset.yaml --------------------------------------------------------------------


class TablePaths(Schema):
    contact_types: RelPath
    warnings: RelPath
    checklist: RelPath
    contact_forms: RelPath
    exclusions: RelPath
    medications: RelPath
    kva: RelPath


class WaitSpec(Schema):
    limit_days: Annotated[StrictInt, Field(gt=0)]
    commitment_months: Annotated[StrictInt, Field(gt=0)]


class RuleSetFile(Schema):
    name: Text
    version: Annotated[str, BeforeValidator(_version), Field(min_length=1)]
    status: RuleSetStatus
    source_document: Text
    # When the rule set's content applies from (the decision log reads it); optional.
    valid_from: Annotated[dt.date, Field(strict=False)] | None = None
    facts: RelPath
    stages: Annotated[list[RelPath], Field(min_length=1)]
    tables: TablePaths
    wait: WaitSpec


class ReleaseFile(Schema):
    version: StrictStr
    sha256: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{64}$")]


# ---- facts.yaml ----------------------------------------------------------------------


class FactSpec(Schema):
    values: Annotated[list[StrictStr | StrictBool], Field(min_length=1)]
    label_sv: Text
    label_en: Text
    description: Text


class Constraint(Schema):
    why: Text
    not_: Condition = Field(alias="not")


class FactsFile(Schema):
    facts: Annotated[dict[Code, FactSpec], Field(min_length=1)]
    constraints: list[Constraint] = []


# ---- stages/*.yaml -------------------------------------------------------------------


class WarningSpec(Schema):
    code: Code
    when: Condition | None = None  # None: always, when the rule fires


class RuleSpec(Schema):
    id: RuleId
    title_sv: Text
    title_en: Text
    source: Text
    when: Condition
    unless: list[RuleId] = []
    outcome: ContactType
    warnings: list[WarningSpec] = []


class StageFile(Schema):
    stage: Code
    title_sv: Text
    title_en: Text
    rules: Annotated[list[RuleSpec], Field(min_length=1)]


# ---- tables/*.yaml -------------------------------------------------------------------


class ContactTypeSpec(Schema):
    label_sv: Text
    label_en: Text
    measurement_point: StrictBool
    care_guarantee: StrictBool
    wait_start: WaitBasis | None = None


class ContactTypesTable(Schema):
    source: Text
    contact_types: dict[ContactType, ContactTypeSpec]
    commitment_types: list[ContactType]


class WarningText(Schema):
    message_en: Text
    message_sv: Text


class WarningsTable(Schema):
    source: Text
    warnings: dict[Code, WarningText]


class ChecklistItem(Schema):
    id: Annotated[StrictStr, Field(pattern=r"^[A-Z][0-9]+$")]
    field: StrictStr  # a field of models.EviAssessment (checked by the loader)
    required: StrictBool
    unanswered: Literal["not_met", "met"]
    text_sv: Text
    text_en: Text


class ChecklistTable(Schema):
    source: Text
    pathways_allowing_direct_start: Annotated[list[Pathway], Field(min_length=1)]
    items: Annotated[list[ChecklistItem], Field(min_length=1)]


class ContactFormSpec(Schema):
    included: StrictBool
    label_sv: Text


class ContactFormsTable(Schema):
    source: Text
    provisional: StrictBool
    forms: dict[ContactForm, ContactFormSpec]


class ExclusionSpec(Schema):
    name_sv: Text
    name_en: Text
    national_code: StrictInt
    excluded_from_numerator: StrictBool
    excluded_from_denominator_from_days: Annotated[StrictInt, Field(ge=0)]


class ExclusionsTable(Schema):
    source: Text
    codes: dict[Exclusion, ExclusionSpec]


class Medication(Schema):
    code: Annotated[StrictStr, Field(pattern=r"^[A-Z](?:[0-9]{2}(?:[A-Z](?:[A-Z](?:[0-9]{2})?)?)?)?$")]
    name: Text
    confirmed: StrictBool
    # The public source that confirms a confirmed entry (a URL or a document reference); an entry
    # without one is provisional, and an answer it decides says so (warning provisional_medication).
    source: Text | None = None

    @model_validator(mode="after")
    def _confirmed_by_a_source(self) -> Medication:
        if self.confirmed and self.source is None:
            raise ValueError(f"{self.code} ({self.name}) is confirmed: true but names no source; expected the "
                             "public source that confirms it (a URL or document reference), or confirmed: false")
        return self


class MedicationsTable(Schema):
    source: Text
    provisional: StrictBool
    atc: Annotated[list[Medication], Field(min_length=1)]


class KvaEntry(Schema):
    annex: Literal[5, 6]
    text: Text


class KvaTable(Schema):
    source: Text
    provisional: StrictBool
    codes: dict[Annotated[StrictStr, Field(pattern=r"^(?:[A-Z]{2}[0-9]{3}|[A-Z]{3}[0-9]{2})$")], KvaEntry]


TABLES: dict[str, type[Schema]] = {
    "contact_types": ContactTypesTable,
    "warnings": WarningsTable,
    "checklist": ChecklistTable,
    "contact_forms": ContactFormsTable,
    "exclusions": ExclusionsTable,
    "medications": MedicationsTable,
    "kva": KvaTable,
}


# ---- error messages ------------------------------------------------------------------


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that the location `loc` (a mapping) is validated by, if any."""
    current: Any = model
    for part in loc:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        fields = {f.alias or n: f for n, f in current.model_fields.items()}
        if part not in fields:
            return None
        current = _unwrap(fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """The model class inside list[...], dict[..., ...], X | None and Annotated[...]."""
    for arg in (annotation, *get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    origin = typing.get_origin(annotation)
    if origin in (list, dict, typing.Union, types.UnionType, Annotated):
        for arg in get_args(annotation):
            found = _unwrap(arg)
            if found is not None:
                return found
    return None


def _path(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")


def format_errors(exc: ValidationError, model: type[BaseModel], file: str, raw: Any) -> list[str]:
    """One line per error: the file, the rule id (stage files), the key and what was expected."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        where = file
        if model is StageFile and len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            rules = raw.get("rules") if isinstance(raw, dict) else None
            rid = rules[loc[1]].get("id") if isinstance(rules, list) and isinstance(rules[loc[1]], dict) else None
            where, loc = f"{file}: rule {rid or f'#{loc[1] + 1}'}", loc[2:]
        if len(loc) >= 2 and loc[-1] == "[key]":  # a mapping key outside the allowed ones
            at = f"{where}.{_path(loc[:-2])}" if loc[:-2] else where
            lines.append(f"{at}: unknown key {loc[-2]!r}: {err['msg']}")
        elif err["type"] in ("missing", "extra_forbidden") and loc:
            key, parent = loc[-1], loc[:-1]
            at = f"{where}.{_path(parent)}" if parent else where
            if err["type"] == "missing":
                lines.append(f"{at}: missing {key!r}")
            else:
                owner = _model_at(model, tuple(err["loc"])[:-1])
                known = sorted(f.alias or n for n, f in owner.model_fields.items()) if owner else []
                lines.append(f"{at}: unknown key {key!r}" + (f"; expected one of {known}" if known else ""))
        else:
            at = f"{where}.{_path(loc)}" if loc else where
            if err["type"] == "value_error":  # our own validators say what they got
                lines.append(f"{at}: {err['msg'].removeprefix('Value error, ')}")
            else:
                lines.append(f"{at}: {err['msg']}, got {err.get('input')!r}")
    return lines
