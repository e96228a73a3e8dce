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


def rules_dir() -> Path:
    """The rule set in force: $BUP_RULES_DIR when set (a reviewed copy, a mutant), else the shipped one."""
    return Path(os.environ.get("BUP_RULES_DIR") or data_dir("rules"))
