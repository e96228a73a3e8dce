"""The documentation cannot go stale unnoticed (docs/README.md, "How the docs are checked").

- Every ```console block in README.md and docs/ is run: each `$ ` line is a command (bash, with this
  venv's `bup-classifier` first on PATH, `localhost:8000` pointing at a real server the test starts,
  in a scratch copy of the repository's data folders) and what the block shows after it is compared
  with what the command printed. `…` in a line stands for any text; a line holding only `…` for any
  number of lines. Output that is JSON is compared as JSON when the block shows no `…`.
- Every relative link and its `#anchor` resolves; every `name.md §N` reference names a section that
  exists; nothing refers to a file users do not have (the workshop's specification).
- The install table lists exactly the dependencies and extras of pyproject.toml.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import unquote

import pytest
from markdown_it import MarkdownIt
from mdit_py_plugins.anchors import anchors_plugin

from tests.server import server_process

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
ELLIPSIS = "…"


def _rel(page: Path) -> str:
    return str(page.relative_to(ROOT))


def console_blocks(page: Path) -> list[tuple[int, list[tuple[str, list[str]]]]]:
    """(line, [(command, expected output lines)]) for each ```console block of a page."""
    blocks = []
    for token in MarkdownIt().parse(page.read_text()):
        if token.type != "fence" or token.info.strip() != "console":
            continue
        runs: list[tuple[str, list[str]]] = []
        pending = ""
        for line in token.content.rstrip("\n").split("\n"):
            if pending or line.startswith("$ "):
                text = pending + (line[2:] if not pending else line)
                if text.endswith("\\"):
                    pending = text[:-1] + "\n"
                    continue
                pending = ""
                runs.append((text, []))
            elif runs:
                runs[-1][1].append(line)
        blocks.append((token.map[0] + 1, runs))
    return blocks


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether the output shown (with `…` as a wildcard) is what was printed."""
    exp = [e.rstrip() for e in expected]
    act = [a.rstrip() for a in actual]
    while act and not act[-1]:
        act.pop()
    while exp and not exp[-1]:
        exp.pop()

    def line_ok(e: str, a: str) -> bool:
        return re.fullmatch(".*".join(re.escape(p) for p in e.split(ELLIPSIS)), a) is not None

    def go(i: int, j: int) -> bool:
        if i == len(exp):
            return j == len(act)
        if exp[i] == ELLIPSIS:
            return any(go(i + 1, k) for k in range(j, len(act) + 1))
        return j < len(act) and line_ok(exp[i], act[j]) and go(i + 1, j + 1)

    return go(0, 0)


def _same(expected: list[str], output: str) -> bool:
    text = "\n".join(expected)
    if ELLIPSIS not in text and text.lstrip()[:1] in "{[" and text.strip():
        try:
            return json.loads(text) == json.loads(output)
        except ValueError:
            pass
    return matches(expected, output.split("\n"))


CASES = [(page, line, runs) for page in PAGES for line, runs in console_blocks(page)]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what the commands read and write, so a shown `--out examples/…` leaves the checkout alone."""
    work = tmp_path_factory.mktemp("docs")
    for name in ("examples", "docs"):
        shutil.copytree(ROOT / name, work / name)
    (work / "rules").symlink_to(ROOT / "rules")
    return work


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    log = tmp_path_factory.mktemp("docs-server") / "server.log"
    with server_process(log) as (base, _):
        yield base


@pytest.mark.slow
@pytest.mark.parametrize(("page", "line", "runs"), CASES, ids=[f"{_rel(p)}:{n}" for p, n, _ in CASES])
def test_every_command_shown_prints_what_is_shown(page: Path, line: int, runs, scratch: Path, served: str) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "COLUMNS": "200",
           "NO_COLOR": "1", "TERM": "dumb"}
    for command, expected in runs:
        cmd = command.replace("http://localhost:8000", served).replace("localhost:8000", served)
        done = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=scratch, env=env, capture_output=True,
                              text=True, timeout=600)
        output = done.stdout + done.stderr
        assert _same(expected, output), (
            f"{_rel(page)}:{line}: `{command}` printed\n{output}\nwhile the page shows\n" + "\n".join(expected))


def test_the_console_blocks_are_found() -> None:
    """The runner sees the tour of the README and every page's worked commands (guards the parser)."""
    by_page = {_rel(p): sum(len(r) for _, _, r in [(p, n, r) for q, n, r in CASES if q == p]) for p in PAGES}
    assert by_page["README.md"] >= 4
    assert by_page["docs/integrators.md"] >= 6


def test_the_wildcard_matcher() -> None:
    assert matches(["a", "…", "d"], ["a", "b", "c", "d"])
    assert matches(["x … y"], ["x 123 y"])
    assert not matches(["a", "d"], ["a", "b", "d"])
    assert not matches(["92 files"], ["93 files"])


# ---- links, anchors and section references ---------------------------------------------------------------

_md = MarkdownIt("commonmark").use(anchors_plugin, max_level=6)


def anchors(page: Path) -> set[str]:
    """The GitHub-style heading anchors of a page (the ones docs/ links use and /docs/NAME serves)."""
    return {t.attrs["id"] for t in _md.parse(page.read_text()) if t.type == "heading_open" and "id" in t.attrs}


def links(page: Path) -> list[str]:
    found = []
    for token in _md.parse(page.read_text()):
        for child in token.children or []:
            if child.type in ("link_open", "image") and (href := child.attrs.get("href") or child.attrs.get("src")):
                found.append(str(href))
    return found


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_link_resolves(page: Path) -> None:
    bad = []
    for href in links(page):
        if re.match(r"^[a-z]+:", href) or href.startswith("/"):
            continue  # a URL (the served pages are checked by the service's tests)
        path, _, anchor = unquote(href).partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            bad.append(f"{href}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            bad.append(f"{href}: no heading with anchor '{anchor}'")
    assert not bad, f"{_rel(page)}: " + "; ".join(bad)


SECTION_REF = re.compile(r"\b([a-z_-]+)\.md §\s?(\d+)")


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_section_reference_resolves(page: Path) -> None:
    bad = []
    for name, number in SECTION_REF.findall(page.read_text()):
        target = ROOT / "docs" / f"{name}.md"
        if not target.exists():
            bad.append(f"{name}.md does not exist")
        elif not any(a.startswith(f"{number}-") for a in anchors(target)):
            bad.append(f"{name}.md has no section {number}")
    assert not bad, f"{_rel(page)}: " + "; ".join(bad)


WORKSHOP = re.compile(r"\b(API|MONTH|DOMAIN|EXAMPLES|NATIONAL|ARCHITECTURE)\.md\b|\.\./shared\b")


def _shipped_texts() -> list[Path]:
    """What users have: the docs, and the code and rules whose texts reach answers and /docs."""
    texts = [*PAGES, *(ROOT / "rules").rglob("*.yaml"), *(ROOT / "api").rglob("*.py"),
             *(ROOT / "api" / "workbench").glob("*.*"), *(ROOT / "classifier").rglob("*.py")]
    return [p for p in texts if p.suffix in (".md", ".yaml", ".py", ".js", ".html")]


def test_nothing_refers_to_a_file_users_do_not_have() -> None:
    bad = [f"{_rel(p)}:{n}" for p in _shipped_texts()
           for n, line in enumerate(p.read_text(errors="replace").split("\n"), 1) if WORKSHOP.search(line)]
    assert not bad, "refers to the workshop's specification, which users do not have: " + ", ".join(bad)


# ---- counts and lists shown against the code ------------------------------------------------------------------

def _install_table() -> dict[str, set[str]]:
    text = (ROOT / "docs" / "operations.md").read_text()
    rows = re.findall(r"^\| `(bup-classifier(?:\[[a-z]+\])?)` \| ([^|]+) \|", text, re.M)
    return {name: {d.strip().lower() for d in deps.split(",")} for name, deps in rows}


def _names(specs: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", s, maxsplit=1)[0].lower() for s in specs}


def test_the_install_table_lists_every_dependency_and_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    table = _install_table()
    assert table.pop("bup-classifier") == _names(project["dependencies"])
    extras = {f"bup-classifier[{k}]": _names(v) for k, v in project["optional-dependencies"].items()}
    assert table == extras


# ---- generated pages --------------------------------------------------------------------------------------------

def test_the_reference_is_what_the_service_says_today() -> None:
    from api import reference

    committed = (ROOT / "docs" / "reference.md").read_text()
    assert committed == reference.current(), "docs/reference.md is stale: python -m api.reference > docs/reference.md"


def test_the_performance_page_shows_the_latest_bench_run() -> None:
    page = (ROOT / "docs" / "performance.md").read_text()
    start = "<!-- bench/results/latest.md: written by bench/bench.py; do not edit by hand -->\n"
    shown = page.split(start, 1)[1].split("<!-- end bench/results/latest.md -->", 1)[0]
    assert shown == (ROOT / "bench" / "results" / "latest.md").read_text()


@pytest.mark.slow
def test_the_site_builds_offline(tmp_path: Path) -> None:
    """`make docs`: mkdocs-material builds every page, and the built site fetches nothing from the internet."""
    done = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "-d", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stdout + done.stderr
    pages = list(tmp_path.glob("*.html"))
    assert {p.stem for p in pages} >= {"index", "clinicians", "integrators", "reference", "operations"}
    remote = re.compile(r"""(?:src|href)=["']https?://(?!127\.0\.0\.1|localhost)[^"']*\.(?:js|css|woff2?)""")
    assert not [p.name for p in pages if remote.search(p.read_text())]
