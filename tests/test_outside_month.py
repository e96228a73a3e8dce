"""The month (docs/month.md) on files written the way regions really write them, by hand.

Every input here is written by hand from docs/month.md §1 and the definitions (docs/definitions.md),
never by the project's simulator or writers: the CSV and JSON lines files are in
tests/data/outside/, and the typed ones (.xlsx, Parquet) are written below with pyarrow and a
dozen lines of OOXML (a zip of XML parts, as Excel saves it), so that a date cell, a text date,
a TRUE/FALSE cell and an error cell are exactly what a spreadsheet stores.

The extract (2026-03, one region, two units) and its counts, worked out by hand
(docs/definitions.md, docs/month.md §2):

- p-åsa: care request 2026-02-09 (A); assessment 2026-03-04 -> first visit (rule N1), wait
  19 + 4 = 23 days (within 30); decision to investigate 2026-03-10; investigation
  2026-03-31 -> investigation (U1), wait 21 days. Two measurement points.
- p-bengt: care request 2026-01-20 (A, PVV); assessment 2026-03-02 -> first visit, wait
  11 + 28 + 2 = 41 days, PVV and 31+ so out of the denominator; registered
  `return_visit`: the one disagreement. One measurement point.
- p-cecilia: care request 2026-03-12 (A), nothing else -> waiting for a first visit at the
  end of March, 31 - 12 = 19 days, new on the list in March.
- p-david: care request 2026-02-02, first visit 2026-02-16 (February, not in the month),
  treatment decision 2026-02-23 with no treatment yet -> waiting for treatment,
  5 + 31 = 36 days; an urgent follow-up 2026-03-20 -> acute (A1), no measurement point.
- p-erik: care request 2026-03-03 by pathway C with D1-D7 met and X1 not raised, treatment
  decision 2026-03-09, pharmacological treatment with N06BA04 2026-03-25 -> treatment by
  direct start (N4), wait 16 days from the decision; not waiting for a first visit.
- p-frida: care request 2026-02-20, care closed 2026-03-05 -> waiting for nothing.

So: 6 patients, 5 contacts in March (å2, å4, b2, d4, e3), 4 measurement points, 2 waiting at
the month's end, 1 of 5 registrations disagreeing, 0 rows rejected. First visits: 2
completed, numerator 1 (åsa), denominator 1 (bengt out by PVV 31+); as registered 1 of 1.
Investigation 1/1, treatment 1/1; new on the first-visit list 1 (cecilia).
"""

from __future__ import annotations

import base64
import csv
import json
import zipfile
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from classifier.cli import main
from classifier.month import run
from classifier.month.extract import COLUMNS, ExtractError
from tests.client import client

DATA = Path(__file__).parent / "data" / "outside"
MONTH = "2026-03"


# -- typed files, written by hand --------------------------------------------------------------------


def _rows_of_comma_csv() -> list[dict[str, str]]:
    """The hand-written comma CSV's rows (the same events for every typed format below)."""
    lines = [x for x in (DATA / "extract_comma.csv").read_text(encoding="utf-8").splitlines() if not x.startswith("#")]
    return list(csv.DictReader(lines))


def _col(i: int) -> str:
    s, i = "", i + 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _cell(ref: str, v: object) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return f'<c r="{ref}" t="b"><v>{int(v)}</v></c>'
    if isinstance(v, date):  # a real date cell: a serial day number with a date format
        return f'<c r="{ref}" s="1"><v>{(v - date(1899, 12, 30)).days}</v></c>'
    if isinstance(v, int | float):
        return f'<c r="{ref}"><v>{v}</v></c>'
    if isinstance(v, str) and v.startswith("#") and v.endswith(("!", "/A", "?")):  # #N/A, #DIV/0!, #VALUE!, #REF!
        return f'<c r="{ref}" t="e"><f>A1/0</f><v>{escape(v)}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(str(v))}</t></is></c>'


_CT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/'
       '2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
       '+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentTyp'
       'e="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksh'
       'eets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Ove'
       'rride PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles'
       '+xml"/></Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org'
         '/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2'
         '006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_BOOK = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spre'
         'adsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><s'
         'heet name="Uttag" sheetId="1" r:id="rId1"/></sheets></workbook>')
_BOOK_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlforma'
              'ts.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/offic'
              'eDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="h'
              'ttp://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relat'
              'ionships>')
_STYLES = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><styleSheet xmlns="http://schemas.openxmlformats.org'
           '/spreadsheetml/2006/main"><numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/></numFmts><fon'
           'ts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts><fills count="1"><fill><patternFill pa'
           'tternType="none"/></fill></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf numFmtId'
           '="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="2"><xf numFmtId="0" fontId="0" fil'
           'lId="0" borderId="0" xfId="0"/><xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberF'
           'ormat="1"/></cellXfs></styleSheet>')


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    """An .xlsx with one sheet, as Excel stores it: the first row the header."""
    data = "".join(f'<row r="{r + 1}">' + "".join(_cell(f"{_col(c)}{r + 1}", v) for c, v in enumerate(row)) + "</row>"
                   for r, row in enumerate(rows))
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.'
             f'org/spreadsheetml/2006/main"><sheetData>{data}</sheetData></worksheet>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in (("[Content_Types].xml", _CT), ("_rels/.rels", _RELS), ("xl/workbook.xml", _BOOK),
                           ("xl/_rels/workbook.xml.rels", _BOOK_RELS), ("xl/styles.xml", _STYLES),
                           ("xl/worksheets/sheet1.xml", sheet)):
            z.writestr(name, text)
    return path


BOOLS = ("urgent", "D1", "D2", "D3", "D4", "D5", "D6", "D7", "X1")


def _xlsx_value(column: str, text: str, i: int) -> object:
    """As an analyst's sheet holds it: dates as date cells in even rows and as text in odd ones (a column pasted
    as text), booleans as TRUE/FALSE cells."""
    if not text:
        return None
    if column in ("date", "decision_date") and i % 2 == 0:
        return date.fromisoformat(text)
    if column in BOOLS:
        return text == "true"
    return text


def xlsx_extract(path: Path) -> Path:
    rows = _rows_of_comma_csv()
    return write_xlsx(path, [list(COLUMNS)] + [[_xlsx_value(c, r.get(c, ""), i) for c in COLUMNS]
                                               for i, r in enumerate(rows)])


def _typed_table() -> pa.Table:
    """The extract as a typed table: date32 dates, bool checklist and urgent, list<string> codes."""
    rows = _rows_of_comma_csv()
    cols: dict[str, pa.Array] = {}
    for c in COLUMNS:
        values = [r.get(c) or None for r in rows]
        if c in ("date", "decision_date"):
            cols[c] = pa.array([date.fromisoformat(v) if v else None for v in values], pa.date32())
        elif c in BOOLS:
            cols[c] = pa.array([None if v is None else v == "true" for v in values], pa.bool_())
        elif c in ("medications_atc", "kva_codes"):
            cols[c] = pa.array([v.split(";") if v else None for v in values], pa.list_(pa.string()))
        else:
            cols[c] = pa.array(values, pa.string())
    return pa.table(cols)


def parquet_typed(path: Path) -> Path:
    pq.write_table(_typed_table(), path)
    return path


def parquet_as_pandas_writes_it(path: Path) -> Path:
    """What `df.to_parquet()` writes for a DataFrame whose index is not a plain range (after a filter, say):
    the index as a last column `__index_level_0__` and the `pandas` schema metadata naming it."""
    table = _typed_table()
    index = pa.array([3 * i + 7 for i in range(table.num_rows)], pa.int64())
    table = table.append_column("__index_level_0__", index)
    meta = {"index_columns": ["__index_level_0__"], "column_indexes": [], "creator": {"library": "pyarrow"},
            "columns": [{"name": n, "field_name": n, "pandas_type": "unicode", "numpy_type": "object",
                         "metadata": None} for n in table.column_names], "pandas_version": "2.2.3"}
    pq.write_table(table.replace_schema_metadata({b"pandas": json.dumps(meta).encode()}), path)
    return path


# -- every format gives the same month ---------------------------------------------------------------

FORMATS = {
    "comma_utf8": lambda tmp: DATA / "extract_comma.csv",
    "semicolon_windows1252": lambda tmp: DATA / "extract_semicolon_windows1252.csv",
    "excel_csv_utf8_bom": lambda tmp: DATA / "extract_excel_utf8.csv",
    "jsonl": lambda tmp: DATA / "extract.jsonl",
    "xlsx": lambda tmp: xlsx_extract(tmp / "extract.xlsx"),
    "parquet_typed": lambda tmp: parquet_typed(tmp / "extract.parquet"),
    "parquet_pandas_index": lambda tmp: parquet_as_pandas_writes_it(tmp / "pandas.parquet"),
}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "out"
    run([DATA / "extract_comma.csv"], [MONTH], out, workers=1)
    return out


def test_the_hand_counts_of_the_comma_file(reference) -> None:
    audit = json.loads((reference / "audit.json").read_text(encoding="utf-8"))
    t = audit["totals"]
    assert (t["patients"], t["contacts_in_months"], t["measurement_points"], t["waiting_at_month_end"]) == (6, 5, 4, 2)
    assert (t["disagreements"], t["registered_compared"], t["rejected_rows"]) == (1, 5, 0)
    completed = list(csv.DictReader((reference / "delivery" / "completed.csv").open(encoding="utf-8")))
    assert {(r["VardkontaktId"], r["Fas"], r["Avvikelse"], r["Vantetid"]) for r in completed} == {
        ("k-å2", "1", "", "23"), ("k-å4", "3", "", "21"), ("k-b2", "1", "1", "41"), ("k-e3", "2", "", "16")}
    waiting = list(csv.DictReader((reference / "delivery" / "waiting.csv").open(encoding="utf-8")))
    assert {(r["Fas"], r["Vantetid"]) for r in waiting} == {("1", "19"), ("2", "36")}
    figures = {(r["level"], r["area"], r["view"]): r
               for r in csv.DictReader((reference / "figures.csv").open(encoding="utf-8")) if r["level"] == "region"}
    fv = figures[("region", "first_visit", "as_rules")]
    assert (fv["completed_all"], fv["numerator"], fv["denominator"], fv["new_on_list"]) == ("2", "1", "1", "1")
    assert figures[("region", "first_visit", "as_registered")]["completed_all"] == "1"
    for area in ("investigation", "treatment"):
        f = figures[("region", area, "as_rules")]
        assert (f["numerator"], f["denominator"]) == ("1", "1")
    dis = list(csv.DictReader((reference / "disagreements.csv").open(encoding="utf-8")))
    assert [(d["event_id"], d["registered"], d["rules"]) for d in dis] == [("b2", "return_visit", "first_visit")]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_every_format_gives_identical_outputs(fmt, reference, tmp_path) -> None:
    path = FORMATS[fmt](tmp_path)
    run([path], [MONTH], tmp_path / "out", workers=1)
    for name in ("delivery/completed.csv", "delivery/waiting.csv", "delivery/completed.json", "delivery/waiting.json",
                 "audit.json", "figures.csv", "disagreements.csv", "rejected.csv"):
        assert (tmp_path / "out" / name).read_bytes() == (reference / name).read_bytes(), (fmt, name)


def test_the_windows1252_file_really_is_windows1252_and_the_excel_one_has_a_bom() -> None:
    raw = (DATA / "extract_semicolon_windows1252.csv").read_bytes()
    assert b"\xe5" in raw and b"\r\n" in raw  # å in Windows-1252, CRLF
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert (DATA / "extract_excel_utf8.csv").read_bytes().startswith(b"\xef\xbb\xbf")


@pytest.mark.parametrize("fmt", ["semicolon_windows1252", "xlsx", "parquet_typed"])
def test_post_v1_months_reads_the_file_as_the_cli_does(fmt, reference, tmp_path) -> None:
    path = FORMATS[fmt](tmp_path)
    r = client.post("/v1/months", json={"month": MONTH, "file_name": path.name,
                                        "file_base64": base64.b64encode(path.read_bytes()).decode()})
    assert r.status_code == 200, r.text
    assert r.json()["totals"] == json.loads((reference / "audit.json").read_text(encoding="utf-8"))["totals"]


# -- the defects of the previous round ----------------------------------------------------------------


def _mixed(tmp_path: Path, utf8_first: bool) -> Path:
    """The comma file with one line saved in the other encoding (two exports pasted together)."""
    lines = (DATA / "extract_comma.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    # line 3 is p-åsa's care request (the first with å), line 14 p-erik's contact (with ö)
    first, other = ("utf-8", "cp1252") if utf8_first else ("cp1252", "utf-8")
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"".join(x.encode(other if n == 14 else first) for n, x in enumerate(lines, 1)))
    return path


@pytest.mark.parametrize("utf8_first", [True, False])
def test_a_csv_mixing_utf8_and_windows1252_fails_naming_the_line(utf8_first, tmp_path) -> None:
    """Defect 1: it was read as one encoding and its å, ä, ö garbled silently (and counted wrong)."""
    path = _mixed(tmp_path, utf8_first)
    with pytest.raises(ExtractError) as err:
        run([path], [MONTH], tmp_path / "out", workers=1)
    assert "line 14" in err.value.en and "mixes two encodings" in err.value.en
    assert "rad 14" in err.value.sv and "blandar två teckenkodningar" in err.value.sv
    assert "not " not in err.value.sv  # the Swedish text said 'Windows-1252 (not UTF-8)-text'
    assert not (tmp_path / "out" / "delivery").exists()
    # the user may still decide: --encoding windows-1252 reads every byte as that (garbled, but asked for)
    assert main(["month", "--extract", str(path), "--month", MONTH, "--out", str(tmp_path / "o2"),
                 "--encoding", "windows-1252", "--workers", "1"]) == 0


def test_a_mixed_csv_over_http_is_a_422_in_both_languages(tmp_path) -> None:
    path = _mixed(tmp_path, True)
    r = client.post("/v1/months", json={"month": MONTH, "file_name": "x.csv",
                                        "file_base64": base64.b64encode(path.read_bytes()).decode()})
    assert r.status_code == 422
    (e,) = r.json()["errors"]
    assert "line 14" in e["message"] and "rad 14" in e["message_sv"]


@pytest.mark.parametrize("text", [
    "patient_ref,event_id,event_type,date\n",
    "\ufeffpatient_ref;event_id;event_type;date\r\n",
    "# uttag mars\npatient_ref,event_id,event_type,date\n# inga rader\n\n",
    "patient_ref,event_id,event_type,date",  # no line end after the header
])
def test_a_csv_with_a_header_and_no_rows_is_an_empty_month(text, tmp_path, capsys) -> None:
    """Defect 2: pyarrow's "Empty CSV file" failed the run; a month with no events is 0 contacts."""
    path = tmp_path / "empty.csv"
    path.write_bytes(text.encode("utf-8"))
    audit = run([path], [MONTH], tmp_path / "out", workers=1)
    assert audit["totals"]["contacts_in_months"] == 0 and audit["totals"]["rejected_rows"] == 0
    assert (tmp_path / "out" / "delivery" / "completed.csv").read_text(encoding="utf-8").count("\n") == 1
    capsys.readouterr()
    assert main(["month", "--extract", str(path), "--month", MONTH, "--out", str(tmp_path / "o2")]) == 0
    said = capsys.readouterr().out
    assert "0 contacts" in said and "rule set none (no contact);" in said  # was "rule set ;"


def test_a_pandas_index_column_is_dropped_not_refused(tmp_path, reference) -> None:
    """Defect 3: __index_level_0__ was an unknown column that failed the whole file."""
    path = parquet_as_pandas_writes_it(tmp_path / "p.parquet")
    assert "__index_level_0__" in pq.read_schema(path).names
    audit = run([path], [MONTH], tmp_path / "out", workers=1)
    assert audit["totals"]["measurement_points"] == 4
    # a column that only looks like one is still refused
    table = _typed_table().append_column("__index_level_x__", pa.array(["a"] * 16))
    pq.write_table(table, tmp_path / "q.parquet")
    with pytest.raises(ExtractError, match="__index_level_x__"):
        run([tmp_path / "q.parquet"], [MONTH], None, workers=1)


def _rejected(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((out / "rejected.csv").open(encoding="utf-8")))


def test_rejected_csv_has_the_problem_in_swedish(tmp_path) -> None:
    """Defect 4: rejected.csv had the problem in English only; every problem kind has its Swedish text."""
    header = (DATA / "extract_comma.csv").read_text(encoding="utf-8").splitlines()[1]
    n = header.count(",") + 1

    def line(*cells: str) -> str:
        return ",".join(list(cells) + [""] * (n - len(cells)))

    path = tmp_path / "bad.csv"
    path.write_text("\n".join([
        header,
        line("p1", "e1", "care_request", "2026-03-40", "R", "U", "A"),  # 1: no such day
        line("p1", "e2", "contact", "2026-03-05", "R", "U") + "x",  # 2: a contact with neither activity...
        line("p1", "e1", "care_closed", "2026-03-06"),  # 3: e1 again
        line("p2", "e4", "visit", "2026-03-06", "R", "U"),  # 4: no such event type
        "p3,e5,care_request",  # 5: too few cells
        line("p4", "e6", "care_request", "2026-03-01", "R", "U", "A", "kanske"),  # 6: D1 not a boolean
        line("p5", "e7", "care_request", "2026-03-01", "", "U", "A"),  # 7: region missing
    ]) + "\n", encoding="utf-8")
    run([path], [MONTH], tmp_path / "out", workers=1)
    rejected = _rejected(tmp_path / "out")
    assert list(rejected[0]) == ["file", "row", "event_id", "column", "problem", "problem_sv"]
    by_row = {}
    for r in rejected:
        by_row.setdefault(r["row"], []).append(r)
    assert sorted(by_row, key=int) == ["1", "2", "3", "4", "5", "6", "7"]
    for r in rejected:
        assert r["problem_sv"] and r["problem_sv"] != r["problem"], r
        assert not r["problem_sv"].startswith("ogiltigt värde ("), r  # the "no translation" fallback
    assert any("ÅÅÅÅ-MM-DD" in r["problem_sv"] for r in by_row["1"])
    assert "finns redan" in by_row["3"][0]["problem_sv"]
    assert by_row["5"][0]["problem_sv"] == f"{n} celler väntades, raden har 3"
    assert by_row["6"][0]["column"] == "D1" and "ska vara" in by_row["6"][0]["problem_sv"]
    assert (by_row["7"][0]["column"], by_row["7"][0]["problem_sv"]) == ("region", "krävs")
    audit = json.loads((tmp_path / "out" / "audit.json").read_text(encoding="utf-8"))
    assert all(f["detail_sv"] for f in audit["findings"] if f["kind"] == "rejected_row")


@pytest.mark.parametrize("error", ["#N/A", "#DIV/0!", "#VALUE!", "#REF!"])
def test_an_excel_error_cell_rejects_its_row_naming_the_column(error, tmp_path) -> None:
    """Defect 8: calamine reads an error cell as empty, and an empty wait_exclusion means "no exclusion"."""
    cols = ["patient_ref", "event_id", "event_type", "date", "region", "unit", "pathway", "wait_exclusion"]
    path = write_xlsx(tmp_path / "x.xlsx", [
        cols,
        ["p1", "e1", "care_request", date(2026, 3, 2), "R", "U", "A", error],  # a VLOOKUP that found nothing
        ["p2", "e2", "care_request", "2026-03-03", "R", "U", "A", "PVV"],
        ["p3", "e3", "care_request", date(2026, 3, 4), "R", "U", "A", None],
        [error, error, error, error, error, error, error, error],  # a row of nothing but errors is no empty row
    ])
    audit = run([path], [MONTH], tmp_path / "out", workers=1)
    rejected = _rejected(tmp_path / "out")
    assert audit["totals"]["rejected_rows"] == 2
    assert audit["totals"]["waiting_at_month_end"] == 2  # p2 and p3; p1 is not guessed to have no exclusion
    first = [r for r in rejected if r["row"] == "1"]
    assert [(r["column"], r["event_id"]) for r in first] == [("wait_exclusion", "e1")]
    assert error in first[0]["problem"] and "Excel error cell" in first[0]["problem"]
    assert error in first[0]["problem_sv"] and "felcell" in first[0]["problem_sv"]
    assert {r["column"] for r in rejected if r["row"] == "4"} == set(cols)


# -- found on the way ----------------------------------------------------------------------------------------


def test_a_nan_in_a_float_parquet_column_rejects_its_row(tmp_path) -> None:
    """A float column's NaN (a writer's "missing" where it did not write null) was read as the text 'nan': an
    event_id 'nan' or a health problem 'nan' passed as real values."""
    table = pa.table({"patient_ref": ["p1", "p2"], "event_id": pa.array([1.0, float("nan")]),
                      "event_type": ["care_request", "care_request"],
                      "date": pa.array([date(2026, 3, 2), date(2026, 3, 3)], pa.date32()),
                      "region": ["R", "R"], "unit": ["U", "U"], "pathway": ["A", "A"]})
    pq.write_table(table, tmp_path / "nan.parquet")
    audit = run([tmp_path / "nan.parquet"], [MONTH], tmp_path / "out", workers=1)
    assert audit["totals"]["waiting_at_month_end"] == 1  # p1, whose event_id 1.0 reads as '1'
    (r,) = _rejected(tmp_path / "out")
    assert (r["row"], r["column"]) == ("2", "event_id") and "not a number" in r["problem"]
    assert "inget tal" in r["problem_sv"]


def test_an_excel_error_cell_in_a_table_that_starts_in_column_b(tmp_path) -> None:
    cols = ["patient_ref", "event_id", "event_type", "date", "region", "unit", "pathway", "wait_exclusion"]
    path = write_xlsx(tmp_path / "b.xlsx", [
        [None, *cols],
        [None, "p1", "e1", "care_request", date(2026, 3, 2), "R", "U", "A", "PVV"],
        [None, "p2", "e2", "care_request", date(2026, 3, 3), "R", "U", "A", "#N/A"],
    ])
    run([path], [MONTH], tmp_path / "out", workers=1)
    assert [(r["row"], r["column"]) for r in _rejected(tmp_path / "out")] == [("2", "wait_exclusion")]


def test_a_care_request_whose_checklist_contradicts_itself_is_rejected_at_its_own_row(tmp_path) -> None:
    """docs/definitions.md: D2 true with X1 true is rejected. The care request was kept and put its patient on the
    first-visit list (X1 taken as the answer meant); only a contact that took it was refused, on the contact's row.
    Hand count: p1's care request (B, D1-D7 true, X1 true) is rejected at row 1, column X1; p1 then waits for
    nothing; p2's (the same with X1 false) is the one first-visit wait."""
    header = "patient_ref,event_id,event_type,date,region,unit,pathway,D1,D2,D3,D4,D5,D6,D7,X1"
    path = tmp_path / "x.csv"
    path.write_text("\n".join([header, "p1,e1,care_request,2026-03-02,R,U,B,ja,ja,ja,ja,ja,ja,ja,ja",
                               "p2,e2,care_request,2026-03-02,R,U,B,ja,ja,ja,ja,ja,ja,ja,nej"]) + "\n",
                    encoding="utf-8")
    audit = run([path], [MONTH], tmp_path / "out", workers=1)
    assert audit["totals"]["waiting_at_month_end"] == 1
    (r,) = _rejected(tmp_path / "out")
    assert (r["row"], r["event_id"], r["column"]) == ("1", "e1", "X1")
    assert "D2" in r["problem"] and "D2 = ja" in r["problem_sv"]


def test_the_month_commands_refusals_are_in_swedish_too(tmp_path, capsys) -> None:
    """`--encoding ebcdic`, `--to` before `--month` and a bad shares file answered in English only, unlike the
    month's other messages (Swedish, then English)."""
    base = ["month", "--extract", str(DATA / "extract_comma.csv"), "--month", MONTH, "--out", str(tmp_path / "o")]
    assert main([*base, "--encoding", "ebcdic"]) == 2
    assert "teckenkodningen 'ebcdic': ska vara utf-8 eller windows-1252" in capsys.readouterr().err
    assert main([*base, "--to", "2026-01"]) == 2
    assert "ligger före första månaden" in capsys.readouterr().err
    shares = tmp_path / "shares.csv"
    shares.write_text("region,share\nRegion Halland,mycket\n", encoding="utf-8")
    assert main([*base, "--shares", str(shares)]) == 2
    err = capsys.readouterr().err
    assert "shares.csv:2: share: ska vara ett decimaltal" in err and "expected a decimal number" in err
