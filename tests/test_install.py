"""Install and run anywhere: the wheel carries what the service needs, and the layers load apart.

The wheel test builds the project's wheel, installs it (no extras, not editable) into a
fresh venv and runs its `bup-classifier` from a folder outside the checkout, with no
path back to the checkout: the rule set, the examples and the page must come from the
wheel. Dependencies come through pip's cache, so durable-rules is built once per machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from classifier import default_classifier, examples
from classifier.resources import DATA_NAMES
from tests.helpers import contact
from tests.server import ROOT, running_server

REQUEST = {"contact": contact("2026-02-26"), "care_request": {"received_date": "2026-02-02", "pathway": "A"}}
LEAN_ABSENT = ("rich", "matplotlib", "zen", "pytest", "hypothesis", "playwright")


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def _run(cmd: list[str | Path], cwd: Path, env: dict[str, str], **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          check=False, **kw)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A fresh venv with only the wheel and its required dependencies; a cwd and env that know no checkout."""
    tmp = tmp_path_factory.mktemp("install")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BUP_RULES_DIR", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    pip = [sys.executable, "-m", "pip"]
    built = _run([*pip, "wheel", "--no-deps", "--wheel-dir", tmp / "dist", ROOT], tmp, env)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("bup_classifier-*.whl")
    made = _run([sys.executable, "-m", "venv", "--without-pip", tmp / "venv"], tmp, env)
    assert made.returncode == 0, made.stderr
    python = tmp / "venv" / "bin" / "python"
    # this venv's pip installs into the new one (pip --python): no pip of its own to bootstrap or upgrade
    done = _run([*pip, "--python", python, "install", "--quiet", wheel], tmp, env)
    assert done.returncode == 0, done.stderr[-3000:]
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return {"python": python, "exe": tmp / "venv" / "bin" / "bup-classifier", "cwd": elsewhere, "env": env}


@pytest.mark.slow
def test_wheel_is_lean_and_carries_every_data_file(installed) -> None:
    probe = ("import importlib.util, json, classifier, api.workbench as w, classifier.resources as r; print(json.dumps("
             "{'classifier': classifier.__file__, 'page': str(w.STATIC_DIR), "
             "'data': {n: str(r.data_dir(n)) for n in r.DATA_NAMES}, "
             f"'absent': [m for m in {LEAN_ABSENT!r} if importlib.util.find_spec(m) is None]}}))")
    done = _run([installed["python"], "-c", probe], installed["cwd"], installed["env"])
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    site = Path(found["classifier"]).parent
    assert ROOT not in Path(found["classifier"]).parents and site.parent.name == "site-packages"
    assert found["absent"] == list(LEAN_ABSENT), "serving needs none of the extras' packages"
    for name in DATA_NAMES:
        data = Path(found["data"][name])
        assert data == site / "_data" / name
        if (ROOT / name).is_dir():  # every file of the folder, found by glob: a new file ships without a list
            shipped = {p for p in _files(ROOT / name) if not (name == "docs" and p.startswith("images/"))}
            assert _files(data) == shipped, name  # docs/images (screenshots for the site) stays out of the wheel
    page = Path(found["page"])
    assert _files(page) == _files(ROOT / "api" / "workbench")
    assert {"index.html", "workbench.js", "workbench.css"} <= _files(page)


@pytest.mark.slow
def test_installed_command_classifies_and_runs_the_examples_from_another_folder(installed) -> None:
    (installed["cwd"] / "request.json").write_text(json.dumps(REQUEST))
    done = _run([installed["exe"], "classify", "request.json"], installed["cwd"], installed["env"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == default_classifier().classify(REQUEST)  # same answer, same rule-set hash

    ran = _run([installed["exe"], "examples"], installed["cwd"], installed["env"])
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert ran.stdout.strip().splitlines()[-1] == f"{len(examples.load())} passed, 0 failed"


@pytest.mark.slow
def test_installed_command_honours_bup_rules_dir(installed, rules_copy) -> None:
    rules = default_classifier().ruleset
    top = rules_copy / "ruleset.yaml"
    top.write_text(yaml.safe_dump({**yaml.safe_load(top.read_text()), "version": f"copy-{rules.version}"}))
    shipped = _run([installed["exe"], "rules"], installed["cwd"], installed["env"])
    copied = _run([installed["exe"], "rules"], installed["cwd"], {**installed["env"], "BUP_RULES_DIR": str(rules_copy)})
    assert shipped.returncode == copied.returncode == 0, shipped.stderr + copied.stderr
    assert shipped.stdout.splitlines()[0].startswith(f"{rules.name} {rules.version} ")
    assert copied.stdout.splitlines()[0].startswith(f"{rules.name} copy-{rules.version} ")


@pytest.mark.slow
def test_report_json_works_lean_and_tables_name_the_missing_extra(installed) -> None:
    find = "import classifier.resources as r; print(r.data_dir('examples') / 'reports')"
    reports = Path(_run([installed["python"], "-c", find], installed["cwd"], installed["env"]).stdout.strip())
    args = ["report", "--year", "2025", "--completed", reports / "completed.csv", "--waiting", reports / "waiting.csv",
            "--shares", reports / "shares.csv"]
    as_json = _run([installed["exe"], *args, "--json"], installed["cwd"], installed["env"])
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["money"]["regions"]
    tables = _run([installed["exe"], *args], installed["cwd"], installed["env"])
    assert tables.returncode == 2 and not tables.stdout
    assert "rich not installed" in tables.stderr and "bup-classifier[report]" in tables.stderr


@pytest.mark.slow
def test_month_in_a_terminal_runs_lean_without_a_progress_bar(installed, tmp_path) -> None:
    # `month` drew its progress bar with rich whenever stderr was a terminal; rich is only in the report extra
    import pty

    find = "import classifier.resources as r; print(r.data_dir('examples') / 'month' / 'extract.csv')"
    extract = _run([installed["python"], "-c", find], installed["cwd"], installed["env"]).stdout.strip()
    leader, follower = pty.openpty()
    try:
        out = str(tmp_path / "out")
        args = [str(installed["exe"]), "month", "--extract", extract, "--month", "2026-03", "--out", out]
        done = subprocess.run(args, cwd=installed["cwd"], env=installed["env"], stdout=subprocess.PIPE,
                              stderr=follower, timeout=600, check=False)
        os.close(follower)
        said = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other side is closed: all is read
                break
            if not chunk:
                break
            said += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0, said.decode(errors="replace")[-2000:]
    assert b"Traceback" not in said and (tmp_path / "out" / "figures.csv").exists()


@pytest.mark.slow
def test_installed_server_serves_the_api_the_page_and_the_library(installed, tmp_path) -> None:
    with running_server(tmp_path / "server.log", exe=installed["exe"], cwd=installed["cwd"],
                        env=installed["env"]) as base:
        health = httpx.get(f"{base}/health", timeout=10)
        page = httpx.get(f"{base}/", timeout=10)
        script = httpx.get(f"{base}/workbench/static/workbench.js", timeout=10)
        library = httpx.get(f"{base}/workbench/library", timeout=30)
        answer = httpx.post(f"{base}/v1/classify", json=REQUEST, timeout=10)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "ruleset": default_classifier().ruleset.identity()}
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.content == (ROOT / "api" / "workbench" / "index.html").read_bytes()
    assert script.status_code == 200 and script.content == (ROOT / "api" / "workbench" / "workbench.js").read_bytes()
    assert library.status_code == 200
    assert sorted(e["name"] for e in library.json()["examples"]) == sorted(e.name for e in examples.load())
    assert answer.status_code == 200 and answer.json() == default_classifier().classify(REQUEST)


# Block durable-rules' two modules, then load what must not need them; the engine itself must then fail.
_WITHOUT_ENGINE = """
import importlib.abc, sys
class Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("durable", "durable_rules_engine"):
            raise ImportError(f"{name} blocked by the test")
sys.meta_path.insert(0, Blocked())
import classifier, classifier.models, classifier.reporting
from classifier.reporting import figures, money, records, report
from classifier.models import ClassifyRequest
assert ClassifyRequest.model_validate(%(request)r).contact.id == "c-1"
assert set(figures.AREAS) <= set(money.load_agreement()["areas"])
built = report.monthly_report(
    2025, shares=records.read_source("examples/reports/shares.csv"),
    completed=[records.read_source("examples/reports/completed.csv")],
    waiting=[records.read_source("examples/reports/waiting.csv")])
assert built["figures"] and built["money"]["regions"], built
assert not [m for m in sys.modules if m.startswith(("durable", "durable_rules"))], sorted(sys.modules)
assert "classifier.engine" not in sys.modules and "classifier.classify" not in sys.modules
try:
    classifier.Classifier
except ImportError:
    print("ok")
"""


def test_reporting_and_models_load_without_durable_rules() -> None:
    done = subprocess.run([sys.executable, "-c", _WITHOUT_ENGINE % {"request": REQUEST}], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_plain_import_of_the_package_loads_no_engine() -> None:
    probe = ("import sys, classifier.reporting.report, classifier.models, classifier.resources; "
             "print(sorted(m for m in sys.modules if 'durable' in m))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr


def test_data_dir_finds_the_checkout_here_and_rejects_unknown_names() -> None:
    from classifier import resources

    for name in DATA_NAMES:
        if (ROOT / name).is_dir():
            assert resources.data_dir(name) == ROOT / name
    assert resources.rules_dirs() == [Path(os.environ.get("BUP_RULES_DIR") or ROOT / "rules")]
    with pytest.raises(ValueError, match="expected one of rules, examples, docs"):
        resources.data_dir("bench")  # type: ignore[arg-type]


def test_rules_dir_follows_the_environment(monkeypatch, rules_copy) -> None:
    from classifier import resources

    monkeypatch.setenv("BUP_RULES_DIR", str(rules_copy))
    assert resources.rules_dirs() == [rules_copy]
    monkeypatch.setenv("BUP_RULES_DIR", os.pathsep.join([str(rules_copy), str(resources.data_dir("rules"))]))
    assert resources.rules_dirs() == [rules_copy, resources.data_dir("rules")]
    monkeypatch.delenv("BUP_RULES_DIR")
    assert resources.rules_dirs() == [resources.data_dir("rules")]
