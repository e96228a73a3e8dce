"""Reading a delivery fast without changing a result, and the national commands' output (docs/national.md §1).

The row checks ask the rule set once per file; the identity check sieves each row and must find exactly what the
privacy module's own walk finds; the CLI stops quietly when its reader leaves; `notices --year` is this year in
Swedish time when the command runs.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import classifier.national.deliveries as deliveries
from classifier.cli import main
from classifier.national import commands
from classifier.national.deliveries import read_delivery
from classifier.national.status import today as swedish_today
from classifier.privacy import identity_number_paths

ROOT = Path(__file__).resolve().parent.parent
HEAD = ["VardkontaktId", "Region", "Enhet", "Rapportmanad", "Fas", "Avvikelse", "AnkomstDatum",
        "BeslutAktivitet", "StartAktivitet", "Vantetid"]
GOOD = ["g-1", "Region Gotland", "BUP Visby", "2026-03", "1", "", "2026-02-10", "", "2026-03-05", "23"]


def _csv(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode()


def test_a_wait_without_its_start_date_is_refused_not_an_internal_error():
    # the message fills in a {column} of its own; it met the problem's own `column` argument (a TypeError)
    row = [*GOOD[:6], "", "", "2026-03-05", "5"]
    d = read_delivery("completed.csv", _csv([HEAD, row]))
    assert [(p.row, p.column, p.message, p.message_sv) for p in d.problems] == [
        (2, "Vantetid", "5 without a start date (AnkomstDatum is empty)", "5 utan startdatum (AnkomstDatum är tomt)")]


def test_the_rule_set_is_asked_for_the_codes_once_per_file(monkeypatch):
    # each row asked it (the held rule set, every rule file hashed): 1 ms a row
    calls = []
    real = deliveries.avvikelse
    monkeypatch.setattr(deliveries, "avvikelse", lambda: calls.append(1) or real())
    rows = [[f"g-{i}", *GOOD[1:]] for i in range(200)]
    d = read_delivery("completed.csv", _csv([HEAD, *rows]))
    assert (d.rows, d.problems, len(calls)) == (200, [], 1)


def test_repeated_cells_are_one_string_and_the_stored_rows_are_unchanged():
    rows = [[f"g-{i}", *GOOD[1:]] for i in range(3)]
    d = read_delivery("completed.csv", _csv([HEAD, *rows]))
    stored = d.parts[("Region Gotland", "2026-03")]
    assert stored[0] == {"id": "g-0", "unit": "BUP Visby", "fas": 1, "avvikelse": None, "ankomst": "2026-02-10",
                         "beslut": None, "start": "2026-03-05", "vantetid": 23}
    assert stored[0]["unit"] is stored[2]["unit"] and stored[0]["ankomst"] is stored[2]["ankomst"]


IDNR = "20120312-1234"
VALUES = [None, "", "BUP Visby", "2026-03-05", IDNR, "２０１２０３１２－１２３４", "2012%2D03-12-1234",
          "a\u00ad20120312\u00ad1234", "Region Örebro län", "2026-02-26,2026-03-01", 23, 201203121234,
          -201203121234, 2012031212.0, 1.5, True, [IDNR], {"x": 201203121234}, {IDNR: 1}, ["BUP", {"y": None}]]


def _identity_cells(records: list[dict]) -> list[tuple[int, str]]:
    d = read_delivery("completed.json", json.dumps(records).encode())
    return [(p.row, p.column) for p in d.problems if "identity" in p.message]


def _walked(records: list[dict]) -> list[tuple[int, str]]:
    """What the privacy module's walk over the whole file finds, row and column."""
    out = []
    for path in identity_number_paths(records):
        row, _, rest = path[1:].partition("]")
        out.append((int(row), rest.lstrip(".").split(".")[0].split("[")[0]))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.sampled_from(range(len(VALUES))), min_size=len(HEAD), max_size=len(HEAD)),
                min_size=1, max_size=6))
def test_the_identity_sieve_finds_exactly_what_the_privacy_walk_finds(picks):
    # a value tested once per distinct text, a short whole number passed unread, anything else walked: the same
    # rows and columns, in the same order, as the walk over every value
    records = [{h: VALUES[i] for h, i in zip(HEAD, row, strict=True)} for row in picks]
    assert _identity_cells(records) == _walked(records)


def test_a_repeated_identity_number_is_refused_on_every_row():
    rows = [[f"g-{i}", *GOOD[1:]] for i in range(4)]
    rows[1][2] = rows[3][2] = IDNR
    d = read_delivery("completed.csv", _csv([HEAD, *rows]))
    assert [(p.row, p.column) for p in d.problems] == [(3, "Enhet"), (5, "Enhet")]
    assert IDNR not in json.dumps([p.as_dict() for p in d.problems])


def _national(*args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout, not an installed copy
    return subprocess.Popen([sys.executable, "-m", "classifier.cli", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    # `national notices … | head`: the reader leaves before the notices are written
    store = str(tmp_path / "empty.duckdb")
    for args in (["national", "notices", "--store", store, "--year", "2026", "--as-of", "2026-12-31"],
                 ["national", "status", "--store", store, "--year", "2026", "--as-of", "2026-12-31"],
                 ["rules"]):
        proc = _national(*args)
        assert proc.stdout is not None
        proc.stdout.close()  # before the command has written anything: its first write meets a closed pipe
        _, err = proc.communicate(timeout=120)
        assert (proc.returncode, err.decode()) == (141, ""), args


def test_output_read_in_part_ends_quietly(tmp_path):
    # as `| head -2` does: a little read, then the pipe closed while the notices (~70 kB, more than a pipe holds)
    # are still being written
    store = str(tmp_path / "empty.duckdb")
    proc = _national("national", "notices", "--store", store, "--year", "2026", "--as-of", "2026-12-31")
    assert proc.stdout is not None
    first = os.read(proc.stdout.fileno(), 100)
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert first.startswith(b"Till Region ")
    assert (proc.returncode, err.decode()) == (141, "")


def test_notices_year_is_this_year_in_swedish_time_when_the_command_runs(tmp_path, monkeypatch):
    import classifier.national.notices as notices

    years = []
    monkeypatch.setattr(notices, "due_notices", lambda store, year, as_of: years.append(year) or [])
    store = str(tmp_path / "n.duckdb")
    # 23:30 UTC on New Year's Eve is already the new year in Sweden (the machine's date is still the old one)
    monkeypatch.setattr(commands, "swedish_today", lambda: swedish_today(dt.datetime(2026, 12, 31, 23, 30,
                                                                                     tzinfo=dt.UTC)))
    assert main(["national", "notices", "--store", store, "--as-of", "2027-01-01"]) == 0
    assert main(["national", "notices", "--store", store, "--as-of", "2027-01-01", "--year", "2026"]) == 0
    assert years == [2027, 2026]


def test_the_national_bench_reports_its_own_peak_memory_not_its_parents():
    # bench/bench.py starts the national bench after sections that peak at GiBs; ru_maxrss carried that peak
    # into the child (4.8 GiB reported for the national side)
    held = b"\x01" * (700 * 2**20)  # this process's memory, resident, while the child runs
    code = "import sys; sys.path.insert(0, 'bench'); import national_store; print(national_store.peak_rss_mib())"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, check=True, timeout=120)
    assert len(held) and 20 < float(done.stdout) < 600
