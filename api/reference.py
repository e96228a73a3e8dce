"""docs/reference.md, written from the service's own /openapi.json, never by hand.

`python -m api.reference > docs/reference.md` regenerates it; tests/test_docs.py fails when the committed
page differs from what the service says today, so the reference cannot drift from the contract.
"""

from __future__ import annotations

import sys
from typing import Any

HEAD = """# API reference

Generated from the service's `/openapi.json` by `python -m api.reference > docs/reference.md`; do not
edit by hand (a test compares it with the running service). The guide with worked requests is
[integrators.md](integrators.md); `/docs` on a running service is the same contract, interactive.

"""


def _type(schema: dict[str, Any]) -> str:
    """A schema as a short type: `string (date)`, `integer | null`, `one of 'A', 'B'`, `[Wait](#wait)`."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " \\| ".join(dict.fromkeys(_type(s) for s in schema[key]))
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v!r}`" if not isinstance(v, str) else f"`'{v}'`" for v in schema["enum"])
    if "const" in schema:
        return f"`{schema['const']!r}`"
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema and isinstance(schema["additionalProperties"], dict):
        return f"map of {_type(schema['additionalProperties'])}"
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [_cell(schema["description"]), ""]
    props = schema.get("properties", {})
    if not props:
        return [*lines, f"Type: {_type(schema)}.", ""]
    required = set(schema.get("required", []))
    lines += ["| field | type | required | description |", "|---|---|---|---|"]
    for field, sub in props.items():
        lines.append(f"| `{field}` | {_type(sub)} | {'yes' if field in required else ''} | "
                     f"{_cell(sub.get('description', ''))} |")
    return [*lines, ""]


def _operation(path: str, method: str, op: dict[str, Any]) -> list[str]:
    lines = [f"### {method.upper()} {path}", "", f"**{op.get('summary', '')}**", ""]
    if op.get("description"):
        lines += [op["description"].strip(), ""]
    params = op.get("parameters", [])
    if params:
        lines += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        lines += [f"| `{p['name']}` | {p['in']} | {_type(p.get('schema', {}))} | {'yes' if p.get('required') else ''}"
                  f" | {_cell(p.get('description', ''))} |" for p in params]
        lines.append("")
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
    if body:
        lines += [f"Request body: {_type(body)}.", ""]
    lines += ["| status | answer |", "|---|---|"]
    for status, resp in op.get("responses", {}).items():
        schema = resp.get("content", {}).get("application/json", {}).get("schema")
        shown = f"{_type(schema)}: " if schema else ""
        lines.append(f"| {status} | {shown}{_cell(resp.get('description', ''))} |")
    return [*lines, ""]


def render(openapi: dict[str, Any]) -> str:
    """The reference page for an OpenAPI document: every operation, then every schema, in a stable order."""
    lines = [HEAD.rstrip("\n"), "", f"Version {openapi['info']['version']} of the rule set at generation.", "",
             "## Operations", ""]
    for path, item in openapi["paths"].items():
        for method, op in item.items():
            lines += _operation(path, method, op)
    lines += ["## Schemas", ""]
    for name, schema in sorted(openapi.get("components", {}).get("schemas", {}).items()):
        lines += _schema(name, schema)
    return "\n".join(lines).rstrip("\n") + "\n"


def current() -> str:
    """The reference as the service describes itself now (every operation: an open service shows them all)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app()) as client:
        return render(client.get("/openapi.json").json())


if __name__ == "__main__":
    sys.stdout.write(current())
