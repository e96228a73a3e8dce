"""Notices to regions whose reporting is incomplete or invalid, and whether a supplement answered them.

Seed 004: Socialstyrelsen shall "meddela regionerna och följa upp regionernas rapportering i de fall
som rapporteringen inte är fullständig och ge dessa regioner möjlighet att inkomma med
kompletteringar". A notice lists, by month and file, what is missing or why a file was refused, and
the day by which a supplement is needed (rules/national.yaml `notices`). Each notice is recorded as
sent; an item is answered once an accepted delivery for its cell is stored after the notice's date.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from classifier.national.deliveries import settings
from classifier.national.status import boundary, completeness, current, local_day
from classifier.national.store import Store

FILE_SV = {"completed": "genomförda (completed)", "waiting": "väntande vid månadens slut (waiting)"}
NOTICE_STATE_SV = {"open": "obesvarat", "partly_answered": "delvis besvarat", "answered": "besvarat"}
MONTH_SV = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
            "november", "december")


def _month_sv(month: str) -> str:
    return f"{MONTH_SV[int(month[5:]) - 1]} {month[:4]}"


def _date_sv(day: str) -> str:
    d = dt.date.fromisoformat(day)
    return f"{d.day} {MONTH_SV[d.month - 1]} {d.year}"


def due_notices(store: Store, year: int, as_of: dt.date) -> list[dict[str, Any]]:
    """The notices to send as of a date: one per region with a missing or invalid cell (due months only)."""
    status = completeness(store, year, as_of)
    deadline = as_of + dt.timedelta(days=int(settings()["notices"]["supplement_days"]))
    out = []
    for r in status["regions"]:
        items = []
        for m in r["months"]:
            for slot in ("completed", "waiting"):
                c = m[slot]
                if c["state"] in ("missing", "invalid"):
                    last = c["refused"][-1] if c["refused"] else None
                    items.append({"month": m["month"], "file": slot, "state": c["state"], "due": m["due"],
                                  "refused_file": last and last["filename"],
                                  "problems": (last["problems"][:10] if last else [])})
        if items:
            notice = {"region": r["region"], "year": year, "issued_on": as_of.isoformat(), "as_of": as_of.isoformat(),
                      "deadline": deadline.isoformat(), "items": items}
            notice["text"], notice["html"] = notice_text(notice), notice_html(notice)
            out.append(notice)
    return out


def _message_sv(p: dict[str, Any]) -> str:
    """The check's Swedish text (rules/national.yaml `problems`); a file refused before it had one keeps its English."""
    return p.get("message_sv") or p["message"]


def _where_sv(p: dict[str, Any]) -> str:
    """`rad 5` of a CSV file (its line) or `post 3` of a JSON array (its index), as a Swedish reader says it."""
    return f"rad {p['row']}" if p.get("row_is", "line") == "line" else f"post {p['row']}"


def _item_sv(it: dict[str, Any]) -> tuple[str, str]:
    what = f"{_month_sv(it['month'])}, {FILE_SV[it['file']]}"
    if it["state"] == "missing":
        return what, f"ingen leverans har tagits emot (skulle ha kommit in senast {_date_sv(it['due'])})"
    reasons = "; ".join(f"{_where_sv(p)}, kolumn {p['column'] or '–'}: {_message_sv(p)}" if p["row"] is not None
                        else f"{p['column'] or 'filen'}: {_message_sv(p)}" for p in it["problems"])
    return what, f"filen {it['refused_file']} kunde inte tas emot: {reasons}"


def notice_text(n: dict[str, Any]) -> str:
    """The notice as plain Swedish text."""
    lines = [f"Till {n['region']}",
             f"Meddelande om ofullständig rapportering av väntetider inom BUP, {_date_sv(n['issued_on'])}", "",
             "Socialstyrelsen följer upp regionernas rapportering enligt överenskommelsen om ökad tillgänglighet "
             "till barn- och ungdomspsykiatrin 2025–2026. Följande leveranser saknas eller kunde inte tas emot:", ""]
    for it in n["items"]:
        what, why = _item_sv(it)
        lines.append(f"- {what}: {why}.")
    lines += ["", f"Skicka in en komplettering senast {_date_sv(n['deadline'])}. En komplettering ersätter "
                  "tidigare leveranser för samma månad; inget tas bort.",
              "Månader som inte är rapporterade när rapporteringen förklaras slutlig räknas som att målet inte "
              "uppnåtts. Till dess hålls medlen för dem inne."]
    return "\n".join(lines) + "\n"


def notice_html(n: dict[str, Any]) -> str:
    """The notice as a self-contained Swedish HTML page (no script, no external file)."""
    e = html.escape
    rows = "".join(f"<tr><td>{e(what)}</td><td>{e(why)}</td></tr>" for what, why in map(_item_sv, n["items"]))
    return ("<!doctype html><html lang='sv'><head><meta charset='utf-8'>"
            f"<title>Meddelande om ofullständig rapportering – {e(n['region'])}</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:50em;color:#222}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left}"
            "th{background:#f3f3f3}</style></head><body>"
            f"<p>Till {e(n['region'])}</p><h1>Meddelande om ofullständig rapportering av väntetider inom BUP</h1>"
            f"<p>Datum: {e(_date_sv(n['issued_on']))}</p>"
            "<p>Socialstyrelsen följer upp regionernas rapportering enligt överenskommelsen om ökad tillgänglighet "
            "till barn- och ungdomspsykiatrin 2025–2026. Följande leveranser saknas eller kunde inte tas emot:</p>"
            f"<table><tr><th>Månad och fil</th><th>Vad saknas eller är fel</th></tr>{rows}</table>"
            f"<p><strong>Skicka in en komplettering senast {e(_date_sv(n['deadline']))}.</strong> En komplettering "
            "ersätter tidigare leveranser för samma månad; inget tas bort.</p>"
            "<p>Månader som inte är rapporterade när rapporteringen förklaras slutlig räknas som att målet inte "
            "uppnåtts. Till dess hålls medlen för dem inne.</p></body></html>")


def answered(store: Store, notices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each recorded notice with each item's answer: the first accepted delivery stored after the notice's date."""
    deliveries = store.deliveries()
    out = []
    for n in notices:
        after = boundary(dt.date.fromisoformat(n["as_of"]))
        items = []
        for it in n["items"]:
            later = [d for d in current(deliveries, n["region"], it["month"], it["file"]) if d["received_at"] >= after]
            ans = later[0] if later else None
            items.append({**it, "answered_by": ans and ans["delivery_id"],
                          "answered_on": ans and local_day(ans["received_at"]).isoformat(),
                          "in_time": ans is not None and local_day(ans["received_at"]).isoformat() <= n["deadline"]})
        done = sum(i["answered_by"] is not None for i in items)
        state = "answered" if done == len(items) else "partly_answered" if done else "open"
        out.append({k: v for k, v in n.items() if k not in ("items", "html")}
                   | {"items": items, "state": state, "state_sv": NOTICE_STATE_SV[state]})
    return out
