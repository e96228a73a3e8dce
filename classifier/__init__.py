"""bup-classifier: classify BUP care contacts for the national wait-time follow-up.

The names below are imported on first use, not with the package: `classifier.classify`
loads the engine and so durable-rules, and `classifier.reporting` or `classifier.models`
must work where durable-rules cannot load (tests/test_install.py checks it).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from classifier.classify import Classifier, default_classifier
    from classifier.errors import InputError

_LAZY = {"Classifier": "classifier.classify", "default_classifier": "classifier.classify",
         "InputError": "classifier.errors"}

__all__ = ["Classifier", "InputError", "default_classifier"]


def __getattr__(name: str) -> Any:
    """Import `Classifier`, `default_classifier` or `InputError` from their module when first asked for."""
    if name not in _LAZY:
        raise AttributeError(f"module 'classifier' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
