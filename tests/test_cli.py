"""The command-line tool answers in kind and reports rejected items in its exit status."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from classifier.cli import main
from tests.helpers import contact, request

GOOD = request(contact("2026-02-26"), care_request={"received_date": "2026-02-02", "pathway": "A"})
BAD = request(contact("2026-02-26", setting="moon"))


def run(capsys, monkeypatch, text: str, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO(text))
    code = main(["classify", "-", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_one_object(capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, monkeypatch, json.dumps(GOOD))
    assert code == 0 and json.loads(out)["rule"]["id"] == "N1"


def test_array_with_a_bad_item(capsys, monkeypatch) -> None:
    code, out, err = run(capsys, monkeypatch, json.dumps([GOOD, BAD]))
    answers = json.loads(out)
    assert code == 1 and "1 of 2" in err
    assert answers[0]["rule"]["id"] == "N1"
    assert answers[1]["index"] == 1 and answers[1]["errors"][0]["path"] == "contact.setting"


def test_json_lines(capsys, monkeypatch) -> None:
    code, out, _ = run(capsys, monkeypatch, json.dumps(GOOD) + "\n\n" + json.dumps(GOOD) + "\n")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [a["rule"]["id"] for a in lines] == ["N1", "N1"]


def test_not_json(capsys, monkeypatch) -> None:
    code, _, err = run(capsys, monkeypatch, "{nope\n")
    assert code == 2 and "line 1: not JSON" in err


def test_rules_table(capsys) -> None:
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    assert "sha256" in out and all(f"\n{r}  " in out for r in ("S1", "N3", "B4", "R1"))


def test_examples_command(capsys) -> None:
    assert main(["examples"]) == 0
    assert " passed, 0 failed" in capsys.readouterr().out


def test_examples_command_reports_a_failure(capsys, tmp_path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "wrong.yaml").write_text(
        "title: t\nstory: s\nrequest: " + json.dumps(GOOD) + "\nexpect: {rule: R1}\n")
    assert main(["examples", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL x/wrong" in out and "answer.rule: expected 'R1', got 'N1'" in out


@pytest.mark.skipif(sys.platform == "win32", reason="console script on POSIX")
def test_installed_console_script() -> None:
    exe = __import__("shutil").which("bup-classifier", path=str(__import__("pathlib").Path(sys.executable).parent))
    assert exe, "the package installs the bup-classifier command"
    done = subprocess.run([exe, "classify", "-"], input=json.dumps(GOOD), capture_output=True, text=True, check=False)
    assert done.returncode == 0 and json.loads(done.stdout)["contact_type"] == "first_visit"


def test_examples_coverage(capsys) -> None:
    assert main(["examples", "--coverage"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:] if line.strip()}
    for rid in ("S1", "A1", "N3", "U2", "B4", "R1"):
        assert int(lines[rid][1]) >= 1 and int(lines[rid][2]) >= 1, out
