"""The month (docs/month.md §1) on files written by the tools regions really export with: pandas and openpyxl.

tests/test_outside_month.py writes its typed files by hand (OOXML, pyarrow); here the same hand-written
events (tests/data/outside/extract_comma.csv) go through the real writers with their defaults and their
traps, and every output must be byte-identical to the comma file's: pandas' `to_csv` as Swedish Excel
would save it (semicolon, Windows-1252, decimal comma), `to_excel` (openpyxl: date-time cells), `to_json`
with ISO dates (`2026-03-04T00:00:00.000`), `to_parquet` (timestamp columns, an index that is not a
range), a warehouse's `2026-03-04 00:00:00`, and an openpyxl workbook built cell by cell with a Swedish
sheet name and date format. What such a file gets wrong by default is refused once, with the fix
named: pandas' index written as a first unnamed column, dates as epoch milliseconds.
"""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from classifier.month import run
from classifier.month.extract import COLUMNS, ExtractError, batches
from tests.client import client
from tests.test_outside_month import BOOLS, DATA, MONTH, reference  # noqa: F401  (reference: the comma file's month)

OUTPUTS = ("delivery/completed.csv", "delivery/waiting.csv", "delivery/completed.json", "delivery/waiting.json",
           "audit.json", "figures.csv", "disagreements.csv", "rejected.csv")


def frame() -> pd.DataFrame:
    """The hand-written events as an analyst holds them in pandas: dates parsed, booleans as booleans."""
    lines = [x for x in (DATA / "extract_comma.csv").read_text(encoding="utf-8").splitlines() if not x.startswith("#")]
    df = pd.DataFrame(list(csv.DictReader(lines)), columns=list(COLUMNS)).replace("", None)
    for c in ("date", "decision_date"):
        df[c] = pd.to_datetime(df[c])
    for c in BOOLS:
        df[c] = df[c].map({"true": True, "false": False})
    return df


def openpyxl_by_hand(path: Path) -> None:
    """A workbook built cell by cell as a Swedish Excel user's: sheet "Blad1", date cells shown as ÅÅÅÅ-MM-DD
    (stored as yyyy-mm-dd), TRUE/FALSE cells, empty cells left out."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Blad1"
    df = frame()
    sheet.append(list(df.columns))
    for row in df.itertuples(index=False):
        sheet.append([None if pd.isna(v) else v.to_pydatetime() if isinstance(v, pd.Timestamp) else v for v in row])
    for column in ("date", "decision_date"):
        letter = sheet.cell(1, list(df.columns).index(column) + 1).column_letter
        for cell in sheet[letter][1:]:
            cell.number_format = "yyyy-mm-dd"
    book.save(path)


WRITERS: dict[str, tuple[str, Callable[[pd.DataFrame, Path], object]]] = {
    "to_csv, Swedish Excel (;, Windows-1252, decimal comma)":
        ("csv", lambda df, p: df.to_csv(p, sep=";", encoding="cp1252", index=False, decimal=",")),
    "to_csv, UTF-8 with a BOM": ("csv", lambda df, p: df.to_csv(p, encoding="utf-8-sig", index=False)),
    "to_csv, a warehouse's date-times at midnight":
        ("csv", lambda df, p: df.to_csv(p, index=False, date_format="%Y-%m-%d %H:%M:%S")),
    "to_excel (openpyxl, date-time cells)": ("xlsx", lambda df, p: df.to_excel(p, index=False)),
    "openpyxl cell by cell": ("xlsx", lambda df, p: openpyxl_by_hand(p)),
    "to_json, ISO dates": ("jsonl", lambda df, p: df.to_json(p, orient="records", lines=True, date_format="iso",
                                                               force_ascii=False)),
    "to_parquet (timestamps)": ("parquet", lambda df, p: df.to_parquet(p)),
    "to_parquet, an index after a filter": ("parquet", lambda df, p: df.set_index(df.index * 3 + 7).to_parquet(p)),
    "to_parquet, '' for nothing (as a warehouse writes it)": ("parquet", lambda df, p: _blanks(df).to_parquet(p)),
    "to_json, '' for nothing": ("jsonl", lambda df, p: _blanks(df).to_json(p, orient="records", lines=True,
                                                                         date_format="iso", force_ascii=False)),
}


def _blanks(df: pd.DataFrame) -> pd.DataFrame:
    """Every empty text cell as '' instead of null."""
    text = [c for c in df.columns if c not in ("date", "decision_date", *BOOLS)]
    return df.assign(**{c: df[c].fillna("") for c in text})


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_every_real_writer_gives_the_comma_files_month(writer, reference, tmp_path) -> None:  # noqa: F811
    kind, write = WRITERS[writer]
    path = tmp_path / f"extract.{kind}"
    write(frame(), path)
    run([path], [MONTH], tmp_path / "out", workers=1)
    for name in OUTPUTS:
        assert (tmp_path / "out" / name).read_bytes() == (reference / name).read_bytes(), (writer, name)


def test_the_writers_wrote_what_their_names_say(tmp_path) -> None:
    """The traps are really in the files: otherwise the test above proves less than it says."""
    df = frame()
    df.to_json(tmp_path / "x.jsonl", orient="records", lines=True, date_format="iso")
    assert '"date":"2026-02-09T00:00:00.000"' in (tmp_path / "x.jsonl").read_text()
    df.to_csv(tmp_path / "x.csv", sep=";", encoding="cp1252", index=False, decimal=",")
    assert "å".encode("cp1252") in (tmp_path / "x.csv").read_bytes()
    df.to_csv(tmp_path / "w.csv", index=False, date_format="%Y-%m-%d %H:%M:%S")
    assert "2026-02-09 00:00:00" in (tmp_path / "w.csv").read_text()
    df.to_parquet(tmp_path / "x.parquet")
    import pyarrow.parquet as pq

    assert str(pq.read_schema(tmp_path / "x.parquet").field("date").type).startswith("timestamp")


def test_post_v1_months_reads_pandas_excel_as_the_cli_does(reference, tmp_path) -> None:  # noqa: F811
    path = tmp_path / "uttag.xlsx"
    frame().to_excel(path, index=False)
    r = client.post("/v1/months", json={"month": MONTH, "file_name": path.name,
                                        "file_base64": base64.b64encode(path.read_bytes()).decode()})
    assert r.status_code == 200, r.text
    assert r.json()["totals"] == json.loads((reference / "audit.json").read_text(encoding="utf-8"))["totals"]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_pandas_index_written_as_a_first_unnamed_column_refuses_the_file_once(kind, tmp_path) -> None:
    """It rejected every row (CSV) or said "unknown column ''" (xlsx); now one error says what and how to fix."""
    path = tmp_path / f"extract.{kind}"
    (frame().to_csv(path, sep=";", encoding="cp1252") if kind == "csv" else frame().to_excel(path))
    with pytest.raises(ExtractError) as err:
        run([path], [MONTH], tmp_path / "out", workers=1)
    assert "column 1 no name (pandas writes its index so; write with index=False)" in str(err.value)
    assert "kolumn 1 inget namn (så skriver pandas sitt index; skriv med index=False)" in err.value.sv
    assert not (tmp_path / "out" / "delivery").exists()  # nothing half-done


def test_an_empty_unnamed_first_column_is_still_read(reference, tmp_path) -> None:  # noqa: F811
    """A table that starts in column B, saved by Excel: `;patient_ref;…` with nothing in column A."""
    text = (DATA / "extract_comma.csv").read_text(encoding="utf-8")
    path = tmp_path / "b.csv"
    path.write_text("\n".join(x if x.startswith("#") else "," + x for x in text.splitlines()) + "\n", encoding="utf-8")
    run([path], [MONTH], tmp_path / "out", workers=1)
    assert (tmp_path / "out" / "audit.json").read_bytes() == (reference / "audit.json").read_bytes()


@pytest.mark.filterwarnings("ignore:'epoch' date format is deprecated")  # pandas 3's default for orient=records
def test_dates_as_epoch_milliseconds_reject_each_row_naming_the_fix(tmp_path) -> None:
    path = tmp_path / "epoch.jsonl"
    frame().to_json(path, orient="records", lines=True, date_format="epoch")
    audit = run([path], [MONTH], tmp_path / "out", workers=1)
    rejected = list(csv.DictReader((tmp_path / "out" / "rejected.csv").open(encoding="utf-8")))
    assert audit["totals"]["contacts_in_months"] == 0 and len(rejected) == len(frame())
    assert {(r["column"], r["problem"]) for r in rejected} >= {
        ("date", "a number; expected a date as text 'YYYY-MM-DD' (pandas: to_json(date_format='iso'))")}
    assert all("to_json(date_format='iso')" in r["problem_sv"] for r in rejected)


@pytest.mark.parametrize("written", ["2026-03-04T10:30:00", "2026-03-04 00:00:01", "2026-03-04T00:00:00Z",
                                     "2026-03-04T00:00:00+01:00", "2026-03-04T00:00:00.5", "2026-03-04T24:00"])
def test_a_time_of_day_or_a_zone_is_not_a_date(written, tmp_path) -> None:
    """Only a date-time at midnight without a zone is its date: with a zone, which day is meant is a guess."""
    lines = (DATA / "extract_comma.csv").read_text(encoding="utf-8").splitlines()
    data = [i for i, x in enumerate(lines) if x and not x.startswith("#")][1]  # the first data row
    header = next(x for x in lines if x and not x.startswith("#")).split(",")
    cells = next(csv.reader([lines[data]]))
    cells[header.index("date")] = written
    lines[data] = ",".join(cells)
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run([path], [MONTH], tmp_path / "out", workers=1)
    rejected = list(csv.DictReader((tmp_path / "out" / "rejected.csv").open(encoding="utf-8")))
    assert [(r["row"], r["column"]) for r in rejected] == [("1", "date")]


def test_the_warehouse_midnight_reaches_only_the_date_columns(tmp_path) -> None:
    """A text that looks like a midnight date-time in another column is kept as written (an id, say)."""
    df = frame()
    df["event_id"] = df["event_id"].where(df.index != 0, "2026-03-04 00:00")
    df["decision_date"] = df["decision_date"].dt.strftime("%Y-%m-%dT%H:%M")
    path = tmp_path / "e.csv"
    df.to_csv(path, index=False, date_format="%Y-%m-%d 00:00:00.000")
    (cols, _, problems), = list(batches(path))
    assert cols["event_id"][0].as_py() == "2026-03-04 00:00" and not problems
    assert cols["date"][0].as_py() == "2026-02-09"
    assert [d for d in cols["decision_date"].to_pylist() if d] == [
        d.date().isoformat() for d in frame()["decision_date"] if not pd.isna(d)]


# -- the national side: a delivery and the shares as pandas writes them ----------------------------------

NATIONAL = DATA / "national"


def _delivery_frame() -> pd.DataFrame:
    """Region Halland's hand-written March delivery (tests/test_outside_national.py), as a region's analyst
    holds it before saving: every cell as its text, nothing guessed by pandas."""
    return pd.read_csv(NATIONAL / "halland_2026-03_completed.csv", dtype=str, keep_default_na=False)


@pytest.mark.parametrize("writer", ["to_csv ; utf-8-sig", "to_csv , utf-8", "to_json records", "to_json lines"])
def test_a_delivery_written_by_pandas_reads_as_the_hand_written_one(writer) -> None:
    from classifier.national.deliveries import read_delivery

    df = _delivery_frame()
    if writer.startswith("to_csv"):
        sep, enc = (";", "utf-8-sig") if ";" in writer else (",", "utf-8")
        name, data = "halland_2026-03_completed.csv", df.to_csv(sep=sep, index=False, lineterminator="\r\n").encode(enc)
    else:
        lines = writer.endswith("lines")
        name = "halland_2026-03_completed.jsonl" if lines else "halland_2026-03_completed.json"
        data = df.to_json(orient="records", lines=lines, force_ascii=False).encode("utf-8")
    got = read_delivery(name, data)
    ref = read_delivery("halland_2026-03_completed.csv", (NATIONAL / "halland_2026-03_completed.csv").read_bytes())
    assert got.problems == [] and got.kind == "completed" and got.parts == ref.parts


def test_a_delivery_written_by_pandas_with_its_index_is_refused_naming_the_column() -> None:
    from classifier.national.deliveries import read_delivery

    got = read_delivery("halland_2026-03_completed.csv", _delivery_frame().to_csv(sep=";").encode("utf-8"))
    assert not got.parts and [(p.row, p.column) for p in got.problems] == [(2, "")]  # once, not per row
    assert "cell 1, a column without a name" in got.problems[0].message
    assert "cell 1, en kolumn utan namn" in got.problems[0].message_sv


def test_shares_written_by_pandas_as_swedish_excel_read_as_the_point_file(tmp_path) -> None:
    from classifier.reporting.report import read_shares

    point = read_shares(NATIONAL / "shares_point.csv")
    df = pd.DataFrame({"region": list(point), "share": [float(v) for v in point.values()]})
    df.to_csv(tmp_path / "andelar.csv", sep=";", decimal=",", index=False, encoding="utf-8-sig")
    assert "0,04" in (tmp_path / "andelar.csv").read_text(encoding="utf-8-sig")
    assert read_shares(tmp_path / "andelar.csv") == point


def test_empty_strings_read_as_empty_cells_take_the_folds_fast_path(tmp_path, monkeypatch) -> None:
    """A Parquet file with '' for nothing sent 85 % of a region's rows through to_row (the month 3-5 s slower
    than its CSV): '' is read as no value, as the CSV reader reads an empty cell."""
    from classifier.month import events, extract
    from classifier.ruleset import held_on

    slow: dict[str, int] = {}
    real = events.to_row
    for name, write in (("csv", lambda p: frame().to_csv(p, index=False)),
                        ("parquet", lambda p: _blanks(frame()).to_parquet(p))):
        path = tmp_path / f"x.{name}"
        write(path)
        part = extract.partition([path], tmp_path / f"buckets-{name}", 1)
        slow[name] = 0

        def counting(rec, rs, names, _name=name):  # type: ignore[no-untyped-def]
            slow[_name] += 1
            return real(rec, rs, names)
        monkeypatch.setattr(events, "to_row", counting)
        list(events.table_rows(extract.read_table(part.files[0]), held_on(date(2026, 3, 1)), part.names))
    assert slow["parquet"] == slow["csv"] < len(frame())
