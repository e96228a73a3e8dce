"""Input errors as the caller needs them: every problem, by JSON path, with what was expected."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class InputError(ValueError):
    """The request is invalid; `errors` lists every problem (HTTP 422)."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{e['path']}: {e['message']}" for e in errors))


_UNION_TAGS = frozenset({"contact", "investigation_concluded", "treatment_concluded", "care_closed"})


def json_path(loc: tuple[Any, ...], prefix: str = "") -> str:
    """('history', 3, 'contact', 'date') -> 'history[3].date'.

    Pydantic puts the discriminated-union branch name right after the list index;
    the caller's JSON has no such level, so it is left out.
    """
    out = prefix
    after_index = False
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            after_index = True
            continue
        if not (after_index and part in _UNION_TAGS):
            out += f".{part}" if out else str(part)
        after_index = False
    return out or "$"


def _message(err: dict[str, Any]) -> str:
    kind = err["type"]
    msg = err["msg"]
    if kind == "extra_forbidden":
        return "unknown field; remove it or check its spelling (unknown fields are rejected)"
    if kind == "missing":
        return "required field is missing"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return "expected a JSON object"
    if kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        return f"unknown type {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags', '')}"
    if kind == "union_tag_not_found":
        return "missing 'type'; expected one of " + str(err.get("ctx", {}).get("expected_tags", ""))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    return msg


def from_validation_error(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Pydantic's errors as {path, message, type} items."""
    return [
        {
            "path": json_path((*e["loc"], "type") if e["type"].startswith("union_tag") else tuple(e["loc"]), prefix),
            "message": _message(e),
            "type": e["type"],
        }
        for e in exc.errors(include_url=False)
    ]


def parse(model: type[M], obj: object) -> M:
    """Validate `obj` as `model`, then its contradictions; raise InputError with every problem."""
    try:
        value = model.model_validate(obj)
    except ValidationError as exc:
        raise InputError(from_validation_error(exc)) from None
    problems = getattr(value, "problems", None)
    found = problems() if problems else []
    if found:
        raise InputError([{"path": p, "message": m, "type": "contradiction"} for p, m in found])
    return value
