"""Where the project's data folders are: in a checkout, or inside an installed wheel.

The repository keeps `rules/`, `examples/` and `docs/` at its top, beside `classifier/`;
a wheel carries them as `classifier/_data/rules/`, `classifier/_data/examples/` and
`classifier/_data/docs/` (pyproject.toml maps them, whole folders, so a new file is
shipped without being listed). `data_dir` is the one place that knows both layouts.
It imports nothing beyond the standard library, so any layer may use it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

DataName = Literal["rules", "examples", "docs"]
DATA_NAMES: tuple[DataName, ...] = ("rules", "examples", "docs")

_PACKAGE = Path(__file__).resolve().parent
INSTALLED_ROOT = _PACKAGE / "_data"  # in a wheel (never present in a checkout)
CHECKOUT_ROOT = _PACKAGE.parent  # the repository's top, in a checkout or an editable install


def data_dir(name: DataName) -> Path:
    """The folder `name` (rules, examples or docs): the installed copy, else the checkout's.

    When neither exists, the installed location is returned, so the error that follows
    (a missing ruleset.yaml, an empty library) names where the file was looked for.
    """
    if name not in DATA_NAMES:
        raise ValueError(f"unknown data folder {name!r}: expected one of {', '.join(DATA_NAMES)}")
    if (INSTALLED_ROOT / name).is_dir():
        return INSTALLED_ROOT / name
    # a checkout is recognised by its pyproject.toml, not by a stray site-packages/docs of another package
    if (CHECKOUT_ROOT / "pyproject.toml").is_file() and (CHECKOUT_ROOT / name).is_dir():
        return CHECKOUT_ROOT / name
    return INSTALLED_ROOT / name


RULES_ENV = "BUP_RULES_DIR"  # docs/rulesets.md: the one variable naming the rule sets a process holds
RETIRED_RULES_ENV = "BUP_RULES_DIRS"  # its old second spelling, refused so no process reads two


class RulesEnvError(ValueError):
    """The environment names the rule sets in a way that is no longer read."""


def rules_dirs() -> list[Path]:
    """The rule-set directories a process holds: $BUP_RULES_DIR (one directory, or several separated by
    os.pathsep as in PATH) when set, else the shipped one. `serve|classify|month|report|impact --rules DIR`
    sets it (classifier/rulesets.py)."""
    if os.environ.get(RETIRED_RULES_ENV):
        raise RulesEnvError(f"${RETIRED_RULES_ENV} is no longer read: name the rule-set directories in "
                            f"${RULES_ENV} (separated by {os.pathsep!r}) or with --rules DIR (docs/rulesets.md)")
    dirs = [Path(d) for d in os.environ.get(RULES_ENV, "").split(os.pathsep) if d.strip()]
    return dirs or [data_dir("rules")]
