"""Every stored version, read back: the listing and one delivery with its rows in the delivery's own columns."""

from __future__ import annotations

from typing import Any

from classifier.national.deliveries import COLUMNS
from classifier.national.store import Store

# store column -> delivery column (classifier.month.outputs.DELIVERY_MAP's names)
_BACK = {"id": "VardkontaktId", "unit": "Enhet", "fas": "Fas", "avvikelse": "Avvikelse", "ankomst": "AnkomstDatum",
         "beslut": "BeslutAktivitet", "start": "StartAktivitet", "vantetid": "Vantetid"}


def delivery_list(store: Store, region: str | None = None, month: str | None = None) -> dict[str, Any]:
    """Each delivery (oldest first) with what superseded it, and every refused file with its reasons."""
    deliveries = store.deliveries(region=region, month=month)
    every = store.deliveries()
    out = []
    for d in deliveries:
        later = [x for x in every if (x["region"], x["month"], x["kind"]) == (d["region"], d["month"], d["kind"])
                 and (x["received_at"], x["delivery_id"]) > (d["received_at"], d["delivery_id"])]
        out.append({**d, "in_force": not later, "superseded_by": later[0]["delivery_id"] if later else None})
    refused = [f for f in store.files() if f["status"] == "refused"
               and (region is None or f["region"] == region) and (month is None or f["month"] == month)]
    return {"deliveries": out, "refused_files": refused}


def delivery_detail(store: Store, delivery_id: int) -> dict[str, Any] | None:
    """One delivery (any version, superseded or not) with its rows as they were delivered."""
    found = [d for d in store.deliveries() if d["delivery_id"] == delivery_id]
    if not found:
        return None
    d = found[0]
    rows = store.rows(d["kind"], [delivery_id])
    if d["kind"] == "counts":
        records = [{"region": d["region"], "month": d["month"], **{k: v for k, v in r.items() if k != "delivery_id"}}
                   for r in rows]
    else:
        cols = COLUMNS[d["kind"]]
        records = [{c: v for c, v in {"Region": d["region"], "Rapportmanad": d["month"],
                                      **{_BACK[k]: v for k, v in r.items() if k in _BACK}}.items()} for r in rows]
        records = [{c: r.get(c) for c in cols} for r in records]
    file = next(f for f in store.files() if f["file_id"] == d["file_id"])
    return {**d, "file": {k: file[k] for k in ("file_id", "filename", "sha256", "format", "sender", "received_at")},
            "rows": records}
