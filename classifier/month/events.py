"""A bucket's rows -> timeline events, checked a column at a time (issue 25).

`extract.to_row` validates each row through the event models (pydantic): ~9 µs a row, a third
of the month's fold, most of it Python around the Rust (building the input dicts, the
validators' callbacks, the identity check again, the Row). Here the checks run over the whole
bucket at once, in Arrow or once per distinct value (a date, a code, a unit's name), and a row
that passes every check is built as the models would build it, without asking them. Any row
this module is not sure of (an odd value, a checklist answer, a cell the identity sieve
suspects) goes through `to_row` as before, so every rejection keeps its exact messages.

The checks are conservative: a row is built here only when pydantic would accept it as it
stands and produce exactly these values (`tests/test_month_events.py` compares the two on
every row of a simulated region and on rows made to fail each check).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any, Literal, get_args, get_origin

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel

from classifier.models import (
    AtcCode,
    CareClosed,
    Contact,
    InvestigationConcluded,
    KvaCode,
    TimelineCareRequest,
    TimelineContact,
    TimelineDecision,
    TreatmentConcluded,
    _calendar_date,
)
from classifier.month.extract import (
    CHECKLIST_COLUMNS,
    FALSE_TEXT,
    TRUE_TEXT,
    Rejected,
    Row,
    _list,
    registered_types,
    to_row,
)
from classifier.ruleset import RuleSet

_TEXT_MAX = 200  # models.Text: 1 to 200 characters
# Contact.medications_atc / kva_codes: at most this many codes (the same limit on both)
_LIST_MAX = min(m.max_length for n in ("medications_atc", "kva_codes") for m in Contact.model_fields[n].metadata
                if hasattr(m, "max_length"))
_NOT_SET = object()


def _choices(model: type[BaseModel], name: str) -> list[str]:
    """The strings a Literal field (or an optional one) accepts, from the model itself."""
    ann = model.model_fields[name].annotation
    if get_origin(ann) is Literal:
        return list(get_args(ann))
    return [v for a in get_args(ann) if get_origin(a) is Literal for v in get_args(a)]  # Literal[...] | None


def _new(cls: type[BaseModel]) -> Any:
    """An instance as `model_construct` makes one: the fields' defaults in declaration order (the
    required ones marked), to be filled by the caller; its fields_set is set by `_made`."""
    return {name: (_NOT_SET if f.is_required() or f.default_factory is not None else f.default)
            for name, f in cls.model_fields.items()}


_BLANKS = {cls: _new(cls) for cls in (Contact, TimelineContact, TimelineCareRequest, TimelineDecision,
                                      InvestigationConcluded, TreatmentConcluded, CareClosed)}
_setattr = object.__setattr__


def _made(cls: type[BaseModel], values: dict[str, Any], given: set[str]) -> Any:
    """The model with these values, unvalidated (they were checked a column at a time): what pydantic
    leaves in an instance it validated, field order, fields_set and all (BaseModel.model_construct)."""
    d = dict(_BLANKS[cls])
    d.update(values)
    obj = cls.__new__(cls)
    _setattr(obj, "__dict__", d)
    _setattr(obj, "__pydantic_fields_set__", given)
    _setattr(obj, "__pydantic_extra__", None)
    _setattr(obj, "__pydantic_private__", None)
    return obj


def _filled(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Non-empty cells (null and '' are empty, as to_row reads them)."""
    return pc.fill_null(pc.not_equal(col, ""), False)


def _among(col: pa.ChunkedArray, values: list[str], optional: bool = False) -> pa.ChunkedArray:
    """Cells holding one of `values` exactly (or, optional, null: never '', which to_row reads as absent)."""
    hit = pc.is_in(col, value_set=pa.array(values, pa.string()))
    return pc.fill_null(pc.or_kleene(hit, pc.is_null(col)) if optional else hit, False)


# extract._SIEVE on ASCII text (its other alternatives need a character outside ASCII): a cell can hold an
# identity number only if it matches this; a cell outside ASCII is left to to_row.
_ASCII_SIEVE = r"[^\x20-\x24\x26-\x5b\x5d-\x7e]|[0-9](?:[ \-./_,:+]*[0-9]){9}"


def _text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Cells models.Text accepts without a doubt: 1-200 characters of ASCII and nothing the identity sieve
    suspects (a suspect cell goes to to_row, whose validator runs privacy's real test and says why)."""
    length = pc.utf8_length(col)
    plain = pc.and_(pc.string_is_ascii(col), pc.invert(pc.match_substring_regex(col, _ASCII_SIEVE)))
    return pc.fill_null(pc.and_(pc.and_(pc.greater_equal(length, 1), pc.less_equal(length, _TEXT_MAX)), plain), False)


def _per_value(col: pa.ChunkedArray, read: Any) -> tuple[pa.ChunkedArray, dict[str, Any]]:
    """`read` once per distinct cell (None where the cell is not for this module) -> (cells it read, the map)."""
    known = {}
    for v in pc.unique(col).to_pylist():
        if v is not None:
            r = read(v)
            if r is not None:
                known[v] = r
    return pc.fill_null(pc.is_in(col, value_set=pa.array(list(known), pa.string())), False), known


def _date(v: str) -> date | None:
    try:
        return _calendar_date(v)  # IsoDate's own check (cached)
    except ValueError:
        return None


def _flag(v: str) -> tuple[bool | None] | None:
    """extract._bool without its problem: (the answer,) or None for a cell to_row must read."""
    if v == "":
        return (None,)
    s = v.strip().lower()
    return (True,) if s in TRUE_TEXT else (False,) if s in FALSE_TEXT else None


def _codes(pattern: Any) -> Any:
    def read(v: str) -> tuple[str, ...] | None:
        codes = _list(v)
        return tuple(codes) if len(codes) <= _LIST_MAX and all(pattern.fullmatch(c) for c in codes) else None
    return read


def _pattern(code: Any) -> re.Pattern[str]:
    """A code type's pattern (models.AtcCode, KvaCode), for fullmatch."""
    (pattern,) = [m.pattern for info in code.__metadata__ for m in info.metadata if getattr(m, "pattern", None)]
    return re.compile(pattern.removeprefix("^").removesuffix("$"))


_SETTINGS, _ACTIVITIES = _choices(Contact, "setting"), _choices(Contact, "activity")
_MODALITIES, _FORMS = _choices(Contact, "treatment_modality"), _choices(Contact, "contact_form")
_EXCLUSIONS, _AREAS = _choices(Contact, "wait_exclusion"), _choices(TimelineDecision, "area")
_PATHWAYS = _choices(TimelineCareRequest, "pathway")
_ATC, _KVA = _pattern(AtcCode), _pattern(KvaCode)


def _and(*masks: pa.ChunkedArray) -> pa.ChunkedArray:
    out = masks[0]
    for m in masks[1:]:
        out = pc.and_(out, m)
    return out


def table_rows(table: pa.Table, ruleset: RuleSet, names: list[str],
               leave_out: set[tuple[int, int]] | None = None) -> Iterator[Row | Rejected]:
    """Each row of a bucket (extract.SCHEMA) in order, as `to_row` reads it, except the rows in `leave_out`."""
    col = table.column
    etype, day = col("event_type"), col("date")
    dated, days = _per_value(day, _date)
    common = _and(_filled(col("patient_ref")), _filled(col("event_id")), dated)
    placed = pc.and_(_filled(col("region")), _filled(col("unit")))
    hp_text = _text(col("health_problem"))
    tm = _among(col("treatment_modality"), _MODALITIES, True)
    we = _among(col("wait_exclusion"), _EXCLUSIONS, True)
    cid = col("contact_id")
    ids = pc.if_else(_filled(cid), cid, col("event_id"))
    decided, decision_days = _per_value(col("decision_date"), _date)
    flagged, flags = _per_value(col("urgent"), _flag)
    atc_ok, atcs = _per_value(col("medications_atc"), _codes(_ATC))
    kva_ok, kvas = _per_value(col("kva_codes"), _codes(_KVA))
    is_type = {t: pc.fill_null(pc.equal(etype, t), False) for t in
               ("contact", "care_request", "decision", "investigation_concluded", "treatment_concluded", "care_closed")}
    unanswered = _and(*(pc.is_null(col(c)) for c in CHECKLIST_COLUMNS))
    fast = pc.and_(common, pc.or_(
        _and(is_type["contact"], placed, _among(col("setting"), _SETTINGS), _among(col("activity"), _ACTIVITIES),
             hp_text, tm, _among(col("contact_form"), _FORMS, True), we, _text(ids),
             pc.or_(pc.is_null(col("decision_date")), decided), pc.or_(pc.is_null(col("urgent")), flagged),
             pc.or_(pc.is_null(col("medications_atc")), atc_ok), pc.or_(pc.is_null(col("kva_codes")), kva_ok)),
        pc.or_(
            pc.or_(_and(is_type["care_request"], placed, _among(col("pathway"), _PATHWAYS), we, unanswered),
                   _and(is_type["decision"], placed, _among(col("area"), _AREAS), hp_text, tm, we)),
            pc.or_(pc.or_(_and(is_type["investigation_concluded"], hp_text),
                          _and(is_type["treatment_concluded"], hp_text, tm)),
                   is_type["care_closed"]))))
    registered = {}
    for w in pc.unique(col("registered_contact_type")).to_pylist():
        if w:  # to_row: `written` is the cell or None; an unknown non-blank one is a finding
            code = registered_types(ruleset).get(w.strip().casefold())
            registered[w] = (code, w if code is None and w.strip() else None)
    # the columns as Python values, once (what to_pylist of the whole table did per row, as dicts)
    fast_l = fast.to_pylist()
    files, rows = col("_file").to_pylist(), col("_row").to_pylist()
    values = {name: col(name).to_pylist() for name in (
        "patient_ref", "event_id", "event_type", "date", "region", "unit", "pathway", "area", "health_problem",
        "treatment_modality", "setting", "activity", "urgent", "contact_form", "medications_atc", "kva_codes",
        "decision_date", "wait_exclusion", "registered_contact_type")}
    ids_l = ids.to_pylist()
    ref_l, eid_l, type_l, day_l = values["patient_ref"], values["event_id"], values["event_type"], values["date"]
    region_l, unit_l, hp_l, tm_l, we_l = (values[c] for c in ("region", "unit", "health_problem",
                                                               "treatment_modality", "wait_exclusion"))
    reg_l = values["registered_contact_type"]
    nothing = (None, None)
    # the rows to_row reads, as the dicts it reads (a few: taken alone, not every column of every row)
    slow = iter(table.take(pc.indices_nonzero(pc.invert(fast))).to_pylist())
    for i, ok in enumerate(fast_l):
        if not ok:
            rec = next(slow)
            if not (leave_out and (files[i], rows[i]) in leave_out):
                yield to_row(rec, ruleset, names)
            continue
        if leave_out and (files[i], rows[i]) in leave_out:
            continue
        t, d = type_l[i], days[day_l[i]]
        if t == "contact":
            c: dict[str, Any] = {"id": ids_l[i], "date": d, "setting": values["setting"][i],
                                 "activity": values["activity"][i], "health_problem": hp_l[i]}
            given = {"id", "medications_atc", "kva_codes", "date", "setting", "activity", "health_problem"}
            for key in ("treatment_modality", "contact_form", "wait_exclusion"):
                v = values[key][i]
                if v is not None:
                    c[key] = v
                    given.add(key)
            v = values["decision_date"][i]
            if v is not None:
                c["decision_date"] = decision_days[v]
                given.add("decision_date")
            v = values["urgent"][i]
            if v is not None and (u := flags[v][0]) is not None:
                c["urgent"] = u
                given.add("urgent")
            v = values["medications_atc"][i]
            c["medications_atc"] = list(atcs[v]) if v is not None else []
            v = values["kva_codes"][i]
            c["kva_codes"] = list(kvas[v]) if v is not None else []
            event = _made(TimelineContact, {"type": "contact", "contact": _made(Contact, c, given)},
                          {"type", "contact"})
        elif t == "care_request":
            e = {"type": t, "date": d, "pathway": values["pathway"][i]}
            if we_l[i] is not None:
                e["wait_exclusion"] = we_l[i]
            event = _made(TimelineCareRequest, e, set(e))
        elif t == "decision":
            e = {"type": t, "date": d, "area": values["area"][i], "health_problem": hp_l[i]}
            if tm_l[i] is not None:
                e["treatment_modality"] = tm_l[i]
            if we_l[i] is not None:
                e["wait_exclusion"] = we_l[i]
            event = _made(TimelineDecision, e, set(e))
        elif t == "care_closed":
            event = _made(CareClosed, {"type": t, "date": d}, {"type", "date"})
        elif t == "investigation_concluded":
            event = _made(InvestigationConcluded, {"type": t, "date": d, "health_problem": hp_l[i]},
                          {"type", "date", "health_problem"})
        else:
            e = {"type": t, "date": d, "health_problem": hp_l[i]}
            if tm_l[i] is not None:
                e["treatment_modality"] = tm_l[i]
            event = _made(TreatmentConcluded, e, set(e))
        code, unknown = registered.get(reg_l[i], nothing) if reg_l[i] else nothing
        yield Row(event, eid_l[i], ref_l[i], region_l[i] or "", unit_l[i] or "", code, files[i], rows[i], d, unknown)
