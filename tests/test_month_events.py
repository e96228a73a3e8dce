"""events.table_rows (a bucket checked a column at a time) gives what extract.to_row gives, row by row."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from classifier.month import events, simulate
from classifier.month.events import table_rows
from classifier.month.extract import COLUMNS, SCHEMA, Row, partition, read_bucket, read_table, to_row
from classifier.month.fold import fold_rows, month_range
from classifier.rulesets import default_rulesets


def _same(a: Any, b: Any) -> bool:
    """Equal as the fold sees them and as pydantic made them: type, values, field order, fields_set."""
    if type(a) is not type(b):
        return False
    if hasattr(a, "__pydantic_fields_set__"):
        return (a.__pydantic_fields_set__ == b.__pydantic_fields_set__ and list(a.__dict__) == list(b.__dict__)
                and all(_same(a.__dict__[k], b.__dict__[k]) for k in a.__dict__)
                and a.__pydantic_extra__ == b.__pydantic_extra__ and a.__pydantic_private__ == b.__pydantic_private__)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return bool(a == b)


def _check(table: pa.Table, names: list[str], leave_out: set[tuple[int, int]] | None = None,
           monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, int]:
    """Every row of `table` read both ways must agree; (rows that became events, rows left to to_row)."""
    ruleset = default_rulesets().for_counting().ruleset
    slow = [to_row(r, ruleset, names) for r in table.to_pylist() if (r["_file"], r["_row"]) not in (leave_out or ())]
    asked = []
    if monkeypatch is not None:
        monkeypatch.setattr(events, "to_row", lambda *a: asked.append(1) or to_row(*a))
    fast = list(table_rows(table, ruleset, names, leave_out))
    assert len(fast) == len(slow)
    made = 0
    for s, f in zip(slow, fast, strict=True):
        if isinstance(s, Row):
            assert isinstance(f, Row) and _same(s.event, f.event), (s, f)
            assert {k: getattr(s, k) for k in Row.__dataclass_fields__ if k != "event"} == \
                {k: getattr(f, k) for k in Row.__dataclass_fields__ if k != "event"}
            made += 1
        else:
            assert s == f  # the same Rejected: file, row, event id, every problem in English and Swedish
    return made, len(asked)


def _table(records: list[dict[str, Any]]) -> pa.Table:
    rows = [{c: r.get(c) for c in COLUMNS} | {"_row": i, "_file": 0} for i, r in enumerate(records, 1)]
    return pa.Table.from_pylist(rows, schema=SCHEMA)


def test_a_simulated_region_reads_the_same_both_ways(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows, key = simulate.simulate(400, 7)
    extract = simulate.write(rows, key, tmp_path)
    part = partition([extract], tmp_path / "buckets", 4)
    made = asked = 0
    for f in part.files:
        e, a = _check(read_table(f), part.names, part.duplicates, monkeypatch)
        made, asked = made + e, asked + a
    assert made > 3000
    assert asked < made / 10  # nearly every row is read a column at a time (else this module saves nothing)


CONTACT = {"patient_ref": "p1", "event_id": "e1", "event_type": "contact", "date": "2026-03-02", "region": "R",
           "unit": "U", "contact_id": "c1", "setting": "bup", "activity": "treatment", "health_problem": "F90"}
ODD_CONTACTS = [
    {}, {"contact_id": None}, {"contact_id": ""}, {"date": "2026-02-30"}, {"date": "1899-12-31"}, {"date": "2026-3-2"},
    {"date": "２０２６-03-02"}, {"date": ""}, {"setting": "BUP"}, {"setting": ""}, {"activity": None},
    {"health_problem": "Ö90"}, {"health_problem": "x" * 201}, {"health_problem": "x" * 200},
    {"health_problem": "19121212-1212"}, {"health_problem": "F90\t"}, {"contact_id": "19121212 1212"},
    {"contact_id": "c%31"}, {"treatment_modality": "psychological"}, {"treatment_modality": ""},
    {"treatment_modality": "talk"}, {"contact_form": "video"}, {"contact_form": "VIDEO"}, {"urgent": "Ja "},
    {"urgent": "0"}, {"urgent": "kanske"}, {"urgent": ""}, {"medications_atc": "N06BA04; N06BA09"},
    {"medications_atc": "N06BA04,n06ba09"}, {"medications_atc": ";".join(["N06BA04"] * 51)},
    {"medications_atc": ";".join(["N06BA04"] * 50)}, {"kva_codes": "DU011;AU118"}, {"kva_codes": "DU011\n"},
    {"decision_date": "2026-01-15"}, {"decision_date": "15/1"}, {"wait_exclusion": "PVV"}, {"wait_exclusion": "pvv"},
    {"registered_contact_type": "Nybesök"}, {"registered_contact_type": " behandling "},
    {"registered_contact_type": "okänd"}, {"registered_contact_type": "  "}, {"region": None}, {"unit": ""},
    {"patient_ref": None}, {"event_id": ""}, {"event_type": "kontakt"}, {"event_type": None},
]
OTHERS = [
    {"event_type": "care_request", "pathway": "A"}, {"event_type": "care_request", "pathway": "D"},
    {"event_type": "care_request", "pathway": "B", "wait_exclusion": "MOV"},
    {"event_type": "care_request", "pathway": "B", "D1": "true", "D2": "ja", "X1": "nej"},
    {"event_type": "care_request", "pathway": "B", "D2": "true", "X1": "true"},
    {"event_type": "care_request", "pathway": None}, {"event_type": "care_request", "pathway": "A", "region": None},
    {"event_type": "decision", "area": "treatment", "treatment_modality": "other"},
    {"event_type": "decision", "area": "investigation", "wait_exclusion": "SOV"},
    {"event_type": "decision", "area": "first_visit"}, {"event_type": "decision", "area": "treatment",
                                                         "health_problem": None},
    {"event_type": "investigation_concluded"}, {"event_type": "investigation_concluded", "health_problem": ""},
    {"event_type": "treatment_concluded", "treatment_modality": "psychosocial"},
    {"event_type": "treatment_concluded", "treatment_modality": "x"}, {"event_type": "care_closed"},
    {"event_type": "care_closed", "date": "2026-13-01"}, {"event_type": "care_closed", "region": None},
]


@pytest.mark.parametrize("change", ODD_CONTACTS + OTHERS, ids=lambda c: repr(c)[:40])
def test_each_check_agrees_with_the_models(change: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _, asked = _check(_table([CONTACT | change]), ["extract.csv"], monkeypatch=monkeypatch)
    if change in ({}, {"event_type": "care_closed"}, {"urgent": "0"}, {"medications_atc": "N06BA04; N06BA09"}):
        assert asked == 0  # plain rows are built here, not by to_row


def test_a_bucket_table_folds_as_its_dicts(tmp_path) -> None:
    rows, key = simulate.simulate(200, 11)
    extract = simulate.write(rows, key, tmp_path)
    part = partition([extract], tmp_path / "buckets", 2)
    months = month_range(min(r["date"] for r in rows if r["date"][8:] <= "31")[:7], "2027-12")
    for f in part.files:
        a = fold_rows(read_bucket(f), months, part.names, leave_out=part.duplicates)
        b = fold_rows(read_table(f), months, part.names, leave_out=part.duplicates)
        assert a.contacts > 0
        for name in ("completed", "waiting", "findings", "rejected", "disagreements", "compared", "agree"):
            assert getattr(a, name) == getattr(b, name), name
        assert a.rules.__dict__ == b.rules.__dict__ and a.registered.__dict__ == b.registered.__dict__
