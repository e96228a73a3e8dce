"""The same small, clean extract in every format a region writes (docs/month.md §1), for the month's proof.

Written by hand (EVENTS below), not by the project's simulator or writer: each file is written the
way its tool writes it. Run from the repository root to rewrite the files (XlsxWriter is needed
only here: `pip install xlsxwriter`):

    python examples/month/formats/make_formats.py

- extract_comma.csv          CSV, comma, UTF-8, LF, booleans true/false, lists with ;
- extract_excel_utf8.csv     Excel's "CSV UTF-8" in a Swedish locale: BOM, ;, CRLF, SANT/FALSKT, lists with ,
- extract_windows1252.csv    Excel's plain "CSV" in a Swedish locale: Windows-1252, ;, CRLF, ja/nej, 1/0
- extract.jsonl              JSON lines from a warehouse: JSON booleans, arrays for the lists, ISO dates
- extract.parquet            typed Parquet: date32, bool, list<string>, a dictionary-encoded unit, zstd
- extract.xlsx               an Excel workbook: real date cells, TRUE/FALSE cells, Swedish labels
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
COLUMNS = ["patient_ref", "event_id", "event_type", "date", "region", "unit", "pathway", "D1", "D2", "D3", "D4",
           "D5", "D6", "D7", "X1", "area", "health_problem", "treatment_modality", "contact_id", "setting",
           "activity", "urgent", "contact_form", "medications_atc", "kva_codes", "decision_date", "wait_exclusion",
           "registered_contact_type"]
VG, GBG, BOR = "Västra Götaland", "BUP Göteborg Öst, mottagning 2", "BUP Borås"
CHECK_YES = dict.fromkeys(["D1", "D2", "D3", "D4", "D5", "D6", "D7"], True) | {"X1": False}
# One dict per event; booleans as booleans, lists as lists, dates as dates: each writer spells them its way.
EVENTS: list[dict] = [
    # p-anna: referral (A), first visit, return visit
    {"patient_ref": "p-anna", "event_id": "a1", "event_type": "care_request", "date": dt.date(2026, 2, 2),
     "region": VG, "unit": GBG, "pathway": "A"},
    {"patient_ref": "p-anna", "event_id": "a2", "event_type": "contact", "date": dt.date(2026, 3, 2), "region": VG,
     "unit": GBG, "health_problem": "F41", "contact_id": "c-a2", "setting": "bup", "activity": "assessment",
     "urgent": False, "registered_contact_type": "first_visit"},
    {"patient_ref": "p-anna", "event_id": "a3", "event_type": "contact", "date": dt.date(2026, 3, 16), "region": VG,
     "unit": GBG, "health_problem": "F41", "contact_id": "c-a3", "setting": "bup", "activity": "follow_up",
     "contact_form": "video", "registered_contact_type": "return_visit"},
    # p-bo: referral via En väg in (B) with the checklist, first visit, decision, investigation, an acute contact
    {"patient_ref": "p-bo", "event_id": "b1", "event_type": "care_request", "date": dt.date(2026, 1, 12),
     "region": VG, "unit": BOR, "pathway": "B", **CHECK_YES},
    {"patient_ref": "p-bo", "event_id": "b2", "event_type": "contact", "date": dt.date(2026, 2, 5), "region": VG,
     "unit": BOR, "health_problem": "F90", "contact_id": "c-b2", "setting": "bup", "activity": "assessment",
     "registered_contact_type": "first_visit"},
    {"patient_ref": "p-bo", "event_id": "b3", "event_type": "decision", "date": dt.date(2026, 2, 20), "region": VG,
     "unit": BOR, "area": "investigation", "health_problem": "F90"},
    {"patient_ref": "p-bo", "event_id": "b4", "event_type": "contact", "date": dt.date(2026, 3, 10), "region": VG,
     "unit": BOR, "health_problem": "F90", "contact_id": "c-b4", "setting": "bup", "activity": "investigation",
     "kva_codes": ["AU119", "DU011"], "registered_contact_type": "investigation"},
    {"patient_ref": "p-bo", "event_id": "b5", "event_type": "contact", "date": dt.date(2026, 3, 20), "region": VG,
     "unit": BOR, "health_problem": "F90", "contact_id": "c-b5", "setting": "bup", "activity": "assessment",
     "urgent": True, "registered_contact_type": "acute"},
    # p-cia: referred in March, still waiting for a first visit at the month's end
    {"patient_ref": "p-cia", "event_id": "c1", "event_type": "care_request", "date": dt.date(2026, 3, 5),
     "region": VG, "unit": GBG, "pathway": "A"},
    # p-dan: first visit, treatment decision, treatment started with medication, care closed
    {"patient_ref": "p-dan", "event_id": "d1", "event_type": "care_request", "date": dt.date(2026, 1, 20),
     "region": VG, "unit": GBG, "pathway": "C"},
    {"patient_ref": "p-dan", "event_id": "d2", "event_type": "contact", "date": dt.date(2026, 2, 10), "region": VG,
     "unit": GBG, "health_problem": "F84", "contact_id": "c-d2", "setting": "bup", "activity": "assessment",
     "registered_contact_type": "first_visit"},
    {"patient_ref": "p-dan", "event_id": "d3", "event_type": "decision", "date": dt.date(2026, 2, 25), "region": VG,
     "unit": GBG, "area": "treatment", "health_problem": "F84", "treatment_modality": "pharmacological"},
    {"patient_ref": "p-dan", "event_id": "d4", "event_type": "contact", "date": dt.date(2026, 3, 5), "region": VG,
     "unit": GBG, "health_problem": "F84", "treatment_modality": "pharmacological", "contact_id": "c-d4",
     "setting": "bup", "activity": "treatment", "medications_atc": ["N06BA04", "N06BA09"],
     "registered_contact_type": "treatment"},
    {"patient_ref": "p-dan", "event_id": "d5", "event_type": "care_closed", "date": dt.date(2026, 3, 28)},
    # p-eva: first visit, then an investigation decision still waiting at the month's end (registered wrongly)
    {"patient_ref": "p-eva", "event_id": "e1", "event_type": "care_request", "date": dt.date(2026, 2, 1),
     "region": VG, "unit": BOR, "pathway": "A", "wait_exclusion": None},
    {"patient_ref": "p-eva", "event_id": "e2", "event_type": "contact", "date": dt.date(2026, 3, 3), "region": VG,
     "unit": BOR, "health_problem": "F50", "contact_id": "c-e2", "setting": "bup", "activity": "assessment",
     "registered_contact_type": "return_visit"},
    {"patient_ref": "p-eva", "event_id": "e3", "event_type": "decision", "date": dt.date(2026, 3, 12), "region": VG,
     "unit": BOR, "area": "investigation", "health_problem": "F50"},
]
# How the Swedish-locale files and the workbook write the registered type: the labels of contact_types.yaml.
LABEL_SV = {"first_visit": "Nybesök", "return_visit": "Återbesök", "investigation": "Utredning",
            "treatment": "Behandling", "acute": "Akut kontakt"}


def _text(v, booleans=("true", "false"), list_sep=";") -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return booleans[0] if v else booleans[1]
    if isinstance(v, list):
        return list_sep.join(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def write_csv(name: str, *, delimiter: str, encoding: str, newline: str, booleans: tuple[str, str],
              list_sep: str, labels: bool) -> None:
    with (HERE / name).open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f, delimiter=delimiter, lineterminator=newline, quoting=csv.QUOTE_MINIMAL)
        w.writerow(COLUMNS)
        for e in EVENTS:
            row = dict(e)
            if labels and row.get("registered_contact_type"):
                row["registered_contact_type"] = LABEL_SV[row["registered_contact_type"]]
            w.writerow([_text(row.get(c), booleans, list_sep) for c in COLUMNS])


def write_jsonl() -> None:
    with (HERE / "extract.jsonl").open("w", encoding="utf-8", newline="\n") as f:
        for e in EVENTS:
            f.write(json.dumps({k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in e.items()
                                if v is not None}, ensure_ascii=False) + "\n")


def write_parquet() -> None:
    types = {c: pa.string() for c in COLUMNS} | {c: pa.bool_() for c in ["D1", "D2", "D3", "D4", "D5", "D6", "D7",
                                                                         "X1", "urgent"]}
    types |= {"date": pa.date32(), "decision_date": pa.date32(), "medications_atc": pa.list_(pa.string()),
              "kva_codes": pa.list_(pa.string())}
    arrays = {c: pa.array([e.get(c) for e in EVENTS], types[c]) for c in COLUMNS}
    arrays["unit"] = arrays["unit"].dictionary_encode()
    pq.write_table(pa.table(arrays), HERE / "extract.parquet", compression="zstd")


def write_xlsx() -> None:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(HERE / "extract.xlsx"))
    ws = wb.add_worksheet("Uttag")
    dates = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, COLUMNS)
    for r, e in enumerate(EVENTS, 1):
        for c, name in enumerate(COLUMNS):
            v = e.get(name)
            if v is None:
                continue
            if name == "registered_contact_type":
                ws.write_string(r, c, LABEL_SV[v])
            elif isinstance(v, dt.date):
                ws.write_datetime(r, c, dt.datetime(v.year, v.month, v.day), dates)
            elif isinstance(v, bool):
                ws.write_boolean(r, c, v)
            elif isinstance(v, list):
                ws.write_string(r, c, ";".join(v))
            else:
                ws.write_string(r, c, v)
    wb.close()


if __name__ == "__main__":
    write_csv("extract_comma.csv", delimiter=",", encoding="utf-8", newline="\n", booleans=("true", "false"),
              list_sep=";", labels=False)
    write_csv("extract_excel_utf8.csv", delimiter=";", encoding="utf-8-sig", newline="\r\n",
              booleans=("SANT", "FALSKT"), list_sep=",", labels=True)
    write_csv("extract_windows1252.csv", delimiter=";", encoding="cp1252", newline="\r\n", booleans=("ja", "nej"),
              list_sep=";", labels=True)
    write_jsonl()
    write_parquet()
    write_xlsx()
