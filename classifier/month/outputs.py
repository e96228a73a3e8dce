"""The month's files (docs/month.md §4): delivery, audit.json, audit.html, figures, disagreements, rejected.

`DELIVERY_MAP` is the one place where the classifier's records meet SKR's information model
for wait-time reporting (v1.1, 2020). The national service contract for the delivery to
Socialstyrelsen is not public, so the map follows the public information model and is kept
here, whole, to be aligned when the contract is.
"""

from __future__ import annotations

import functools
import html
import os
from collections.abc import Callable, Iterable
from datetime import date
from fractions import Fraction
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.ipc as ipc

from classifier import resources
from classifier.month.fold import BucketResult
from classifier.reporting.csvsafe import write_csv, write_table
from classifier.reporting.money import ORE_PER_MSEK, sv_number
from classifier.ruleset import RuleSet, held_on
from classifier.rulesets import RuleSets

FAS = {"first_visit": 1, "treatment": 2, "investigation": 3}  # Fas: 1 förstakontakt, 2 åtgärd, 3 utredning


@functools.cache

def rows_sv(n: int) -> str:
    """'1 rad', '2 rader': the Swedish count of rows, as a reader writes it."""
    return f"{n} rad" if n == 1 else f"{n} rader"


def rows_en(n: int) -> str:
    """'1 row', '2 rows'."""
    return f"{n} row" if n == 1 else f"{n} rows"


def avvikelse() -> dict[str, int]:
    """Each wait exclusion's national code (Avvikelse), from its one home, rules/tables/exclusions.yaml (of the held
    rule set valid today; the loader ties the codes to the request model, so every held set has the same ones).
    Asked once per delivery row: looked up once per holding, as records.wait_rules is (finding the held set
    hashes every rule file, ~0.5 ms)."""
    return _avvikelse(os.environ.get(resources.RULES_ENV, ""))


@functools.lru_cache(maxsize=16)
def _avvikelse(_held: str) -> dict[str, int]:
    codes = held_on(date.today()).tables["exclusions"]["codes"]
    return {code: int(spec["national_code"]) for code, spec in codes.items()}


# column -> how it is computed from a record (completed: a measurement point; waiting: an open wait)
DELIVERY_MAP: dict[str, dict[str, Callable[[dict[str, Any]], Any]]] = {
    "completed": {
        "VardkontaktId": lambda r: r["contact_id"],
        "Region": lambda r: r["region"],
        "Enhet": lambda r: r["unit"],
        "Rapportmanad": lambda r: r["month"],
        "Fas": lambda r: FAS[r["contact_type"]],
        "Avvikelse": lambda r: avvikelse().get(r["exclusion"] or ""),
        "AnkomstDatum": lambda r: r["received_date"],
        "BeslutAktivitet": lambda r: r["decision_date"] if r["contact_type"] != "first_visit" else None,
        "StartAktivitet": lambda r: r["date"],
        "Vantetid": lambda r: r["days"],
    },
    "waiting": {
        "VardkontaktId": lambda r: r["event_id"],
        "Region": lambda r: r["region"],
        "Enhet": lambda r: r["unit"],
        "Rapportmanad": lambda r: r["month"],
        "Fas": lambda r: FAS[r["area"]],
        "Avvikelse": lambda r: avvikelse().get(r["exclusion"] or ""),
        "AnkomstDatum": lambda r: r["wait_start"] if r["area"] == "first_visit" else None,
        "BeslutAktivitet": lambda r: r["wait_start"] if r["area"] != "first_visit" else None,
        "Vantetid": lambda r: r["days"],
    },
}


def _write(path: Path, fieldnames: list[str], rows: Iterable[dict[str, Any]]) -> Path:
    """Every CSV of the month through the reporting layer's injection-safe writer."""
    return write_csv(path, rows, fieldnames)


# The delivery order (month, region, unit, then the day of a completed contact or the start of a
# wait, then the event id), kept as columns beside the delivery's own while the parts are spilled.
_ORDER = {"_month": lambda r: r["month"], "_region": lambda r: r["region"], "_unit": lambda r: r["unit"],
          "_day": lambda r: r.get("date") or r["wait_start"], "_event": lambda r: r["event_id"]}
_NUMBERS = {"Fas", "Avvikelse", "Vantetid"}  # the delivery's integer columns; the rest is text


def _schema(kind: str) -> pa.Schema:
    return pa.schema([(n, pa.int64() if n in _NUMBERS else pa.string()) for n in DELIVERY_MAP[kind]]
                     + [(n, pa.string()) for n in _ORDER])


def spill(kind: str, records: list[dict[str, Any]], path: Path) -> Path:
    """Some patients' delivery rows as an Arrow file: the delivery's columns and the order's.

    Done in the pool's workers, one column at a time; write_delivery sorts all parts at once
    and writes them (in two of the pool's workers, one file each, when there is a pool).
    """
    schema = _schema(kind)
    columns = {**DELIVERY_MAP[kind], **_ORDER}
    table = pa.table({n: pa.array([fn(r) for r in records], schema.field(n).type) for n, fn in columns.items()},
                     schema=schema)
    with ipc.new_file(path, schema) as w:
        w.write_table(table)
    return path


def write_delivery(out: Path, kind: str, parts: list[Path]) -> list[Path]:
    """delivery/{kind}.{csv,json}: the spilled parts in delivery order, every CSV cell made safe."""
    (out / "delivery").mkdir(parents=True, exist_ok=True)
    csv_path, json_path = out / "delivery" / f"{kind}.csv", out / "delivery" / f"{kind}.json"
    tables = []
    for part in parts:
        with ipc.open_file(part) as f:
            tables.append(f.read_all())
    table = pa.concat_tables(tables) if tables else _schema(kind).empty_table()
    table = table.sort_by([(n, "ascending") for n in _ORDER]).drop_columns(list(_ORDER))
    with csv_path.open("w", newline="", encoding="utf-8") as c:
        write_table(c, table)
    with json_path.open("wb") as j:
        j.write(b"[")
        first = True
        for batch in table.to_batches(max_chunksize=50_000):
            rows = batch.to_pylist()
            if rows:
                j.write((b"" if first else b",") + orjson.dumps(rows)[1:-1])
                first = False
        j.write(b"]")
    return [csv_path, json_path]


def write_all(out: Path, audit: dict[str, Any], res: BucketResult, ruleset: RuleSet | RuleSets,
              delivery: bool = True) -> list[Path]:
    """Every file of docs/month.md §4 into `out` (`delivery=False`: all but the delivery, which the
    caller merges itself, in parallel: run.py)."""
    out.mkdir(parents=True, exist_ok=True)
    written = [p for kind in ("completed", "waiting") for p in write_delivery(out, kind, res.delivery_parts[kind])
               ] if delivery else []
    p = out / "audit.json"
    p.write_bytes(orjson.dumps(audit, option=orjson.OPT_INDENT_2))  # as POST /v1/months answers it
    written.append(p)
    fig_rows = []
    for level, items in (("region", audit["regions"]), ("unit", audit["units"])):
        for item in items:
            for f in item["figures"]:
                for view in ("as_registered", "as_rules"):
                    fig_rows.append({"level": level, "region": item["region"], "unit": item.get("unit", ""),
                                     "month": f["month"], "area": f["area"], "view": view, **f[view]})
    written.append(_write(out / "figures.csv", ["level", "region", "unit", "month", "area", "view",
                                                    "numerator", "denominator", "share_within_30", "completed_all",
                                                    "waiting", "waiting_le30", "waiting_share_le30", "new_on_list"],
                             fig_rows))
    dis = sorted(res.disagreements, key=lambda r: (r["month"], r["region"], r["unit"], r["date"], r["event_id"]))
    written.append(_write(out / "disagreements.csv", ["month", "region", "unit", "date", "event_id", "contact_id",
                                                         "registered", "rules", "rule"], dis))
    rej = [{"file": r.file, "row": r.row, "event_id": r.event_id, "column": c, "problem": m, "problem_sv": sv}
           for r in sorted(res.rejected, key=lambda r: (r.file, r.row)) for c, m, sv in r.problems]
    written.append(_write(out / "rejected.csv", ["file", "row", "event_id", "column", "problem", "problem_sv"], rej))
    p = out / "audit.html"
    p.write_text(audit_html(audit, ruleset), encoding="utf-8")
    written.append(p)
    return written


# ---- audit.html -------------------------------------------------------------------------------------

AREA_SV = {"first_visit": "Första besök", "investigation": "Utredning", "treatment": "Behandling"}
FINDING_SV = {
    "measurement_point_without_wait_start": "Mätpunkt utan väntetidsstart",
    "contact_not_registered": "Kontakt utan registrerad kontakttyp",
    "unknown_registered_contact_type": "Registrerad kontakttyp som inte finns (räknas som oregistrerad)",
    "old_decision_without_follow_up": "Gammalt beslut utan något därefter",
    "event_after_care_closed": "Händelse efter avslutat vårdåtagande utan ny vårdbegäran",
    "duplicate_id": "Dubblett-id",
    "rejected_row": "Rad som inte kunde läsas",
}


def _type_sv(ruleset: RuleSet | RuleSets, contact_type: str) -> str:
    """A contact type in Swedish, from its one home (rules/tables/contact_types.yaml; of the set valid today
    when several are held)."""
    held = ruleset if isinstance(ruleset, RuleSet) else ruleset.ruleset
    return held.tables["contact_types"]["contact_types"][contact_type]["label_sv"]


def _e(v: Any) -> str:
    return html.escape("–" if v is None else str(v))


def _pct(v: Any) -> str:
    return "–" if v is None else f"{v:.1f}".replace(".", ",") + " %"


def _num(v: Any) -> str:
    return "–" if v is None else f"{v:+.1f}".replace(".", ",").replace("-", "−")


def _mnkr(ore: int | None, signed: bool = False) -> str:
    """Öre as Swedish mnkr with two decimals: 0,91 mnkr (signed: +0,91 / −0,91)."""
    if ore is None:
        return "–"
    text = sv_number(Fraction(ore, ORE_PER_MSEK), 2) + " mnkr"
    return ("+" + text) if signed and ore > 0 else text


def _cost(audit: dict[str, Any]) -> str:
    """"Vad kostar det?": the money effect of the registrations that disagree, per region and unit."""
    rows = audit.get("cost") or []
    if not rows:
        return ""
    out = ["<h2>Vad kostar det?</h2><p>Prestationsmedlen för periodens månader (och kömålsperioder som avgjorts "
           "inom dem) räknade två gånger: med kontakttyperna som de registrerats och som reglerna säger. "
           "Effekten är <i>som registrerat − enligt reglerna</i>: ett minus betyder att de avvikande "
           "registreringarna skulle kosta regionen pengar om de rapporterades. För en enhet räknas regionen "
           "enligt reglerna utom den enhetens registreringar (enheternas effekter summerar inte alltid till "
           "regionens, eftersom nivåerna är trappsteg).</p><table><tr><th>Region</th><th>Enhet</th>"
           "<th>Som registrerat</th><th>Enligt reglerna</th><th>Effekt av avvikande registreringar</th></tr>"]
    for c in rows:
        out.append(f"<tr><td>{_e(c['region'])}</td><td>{_e(c['unit'] or 'hela regionen')}</td>"
                   f"<td>{_mnkr(c['as_registered_ore'])}</td><td>{_mnkr(c['as_rules_ore'])}</td>"
                   f"<td><b>{_mnkr(c['effect_ore'], signed=True)}</b></td></tr>")
    out.append("</table>")
    return "".join(out)


def _assumptions(audit: dict[str, Any]) -> str:
    items = audit.get("assumptions") or []
    if not items:
        return ""
    return "<h2>Antaganden</h2><ul>" + "".join(f"<li>{_e(a['sv'])}</li>" for a in items) + "</ul>"


def _block_one(audit: dict[str, Any]) -> str:
    b1 = audit.get("block_one") or {}
    if not b1.get("regions"):
        return ""
    rows = "".join(f"<tr><td>{_e(r['region'])}</td><td>{_e(r['population_0_18'])}</td><td>{_mnkr(r['base_ore'])}"
                   f"</td><td>{_mnkr(r['by_population_ore'])}</td><td>{_mnkr(r['total_ore'])}</td></tr>"
                   for r in b1["regions"])
    note = f"<p><b>Ofullständigt:</b> {_e(b1['note_sv'])}</p>" if b1.get("note_sv") else ""
    return (f"<h2>{_e(b1['label_sv'])}</h2><p>Bredvid prestationsmedlen: grundbelopp per region och resten efter "
            f"befolkningen 0–18 år.</p>{note}<table><tr><th>Region</th><th>Befolkning 0–18</th><th>Grund</th>"
            f"<th>Efter befolkning</th><th>Summa</th></tr>{rows}</table>")


def _outcome(view: dict[str, Any]) -> str:
    """One money cell: the tier (or status in words), what it pays, and why the target was not met."""
    if not view or view.get("status") is None:
        return "–"
    words = view.get("status_words") or {}
    tier = words.get("sv") if view["status"] in ("nothing_completed", "not_reported") else view["tier"]
    why = "".join(f"<br><span class='why'>{_e(w['sv'])}</span>" for w in view.get("why_not_met") or [])
    nobody = (f"<br><span class='muted'>{_e(words['sv'])}</span>"
              if words.get("code") == "nobody_waiting" else "")
    return f"{_e(tier)} ({_mnkr(view.get('paid_ore'))}){nobody}{why}"


def _bars(rows: list[dict[str, Any]]) -> str:
    """An inline SVG: share within 30 days per area and month, as registered (grey) and by the rules (blue)."""
    w, h, bar, gap = 640, 180, 14, 10
    items = [r for r in rows if r["as_rules"]["share_within_30"] is not None
             or r["as_registered"]["share_within_30"] is not None]
    if not items:
        return "<p class='muted'>Inga genomförda mätpunkter att visa.</p>"
    w = max(w, len(items) * (2 * bar + gap) + 60)
    parts = [f"<svg role='img' aria-label='Andel inom 30 dagar' width='{w}' height='{h + 40}' "
             f"xmlns='http://www.w3.org/2000/svg'>",
             f"<line x1='40' y1='{h - h * 0.75:.0f}' x2='{w}' y2='{h - h * 0.75:.0f}' stroke='#b00' "
             f"stroke-dasharray='4'/><text x='0' y='{h - h * 0.75 + 4:.0f}' font-size='10'>75 %</text>"]
    x = 44
    for r in items:
        for view, colour in (("as_registered", "#999"), ("as_rules", "#1f5fa8")):
            s = r[view]["share_within_30"]
            if s is not None:
                bh = h * s / 100
                parts.append(f"<rect x='{x}' y='{h - bh:.1f}' width='{bar}' height='{bh:.1f}' fill='{colour}'>"
                             f"<title>{_e(AREA_SV[r['area']])} {r['month']}: {_pct(s)}</title></rect>")
            x += bar
        parts.append(f"<text x='{x - bar}' y='{h + 14}' font-size='9' text-anchor='middle'>"
                     f"{_e(AREA_SV[r['area']][:4])}</text><text x='{x - bar}' y='{h + 26}' font-size='9' "
                     f"text-anchor='middle'>{_e(r['month'][5:])}</text>")
        x += gap
    parts.append("</svg>")
    return "".join(parts)


def _figures_table(rows: list[dict[str, Any]]) -> str:
    head = ("<tr><th>Månad</th><th>Område</th><th>Registrerat: inom 30 d / genomförda</th><th>Andel</th>"
            "<th>Enligt reglerna: inom 30 d / genomförda</th><th>Andel</th><th>Skillnad %-enheter</th>"
            "<th>Väntande vid månadens slut</th></tr>")
    body = "".join(
        f"<tr><td>{_e(r['month'])}</td><td>{_e(AREA_SV[r['area']])}</td>"
        f"<td>{_e(r['as_registered']['numerator'])} / {_e(r['as_registered']['denominator'])}</td>"
        f"<td>{_pct(r['as_registered']['share_within_30'])}</td>"
        f"<td>{_e(r['as_rules']['numerator'])} / {_e(r['as_rules']['denominator'])}</td>"
        f"<td>{_pct(r['as_rules']['share_within_30'])}</td><td>{_num(r['difference_pp'])}</td>"
        f"<td>{_e(r['as_rules']['waiting'])}</td></tr>" for r in rows)
    return f"<table>{head}{body}</table>"


def _figures(rows: list[dict[str, Any]]) -> str:
    """A section's figures: the chart with its legend, then the table."""
    return ("<p class='legend'><span style='background:#999'></span>som registrerat "
            "<span style='background:#1f5fa8'></span>enligt reglerna</p>" + _bars(rows) + _figures_table(rows))


def _pattern(cell: dict[str, Any], ruleset: RuleSet | RuleSets) -> str:
    rule_id = next(iter(cell["rules_fired"]))
    held = [ruleset] if isinstance(ruleset, RuleSet) else [c.ruleset for c in reversed(ruleset.classifiers)]
    rule = next(r.rules_by_id[rule_id] for r in held if rule_id in r.rules_by_id)  # the latest set that has it
    n = "färre än 5" if cell["count"] is None else str(cell["count"])
    registered, rules = _type_sv(ruleset, cell["registered"]), _type_sv(ruleset, cell["rules"])
    return (f"<li><b>{n} kontakter</b> registrerades som <i>{_e(registered)}</i> men är enligt "
            f"reglerna <i>{_e(rules)}</i>. Regel {_e(rule_id)}: {_e(rule.title_sv)} "
            f"<span class='muted'>(källa: {_e(rule.source)})</span>.</li>")


def _rulesets_sv(audit: dict[str, Any]) -> str:
    """Every rule set the month used (docs/rulesets.md), each with its hash and the contacts it classified."""
    used = audit.get("rulesets") or [audit["ruleset"]]
    parts = [f"{_e(r['name'])} {_e(r['version'])} <span class='muted'>(sha256 {_e(r['sha256'][:12])}…"
             + (f", gäller från {_e(r['valid_from'])}" if r.get("valid_from") else "")
             + (f", {r['contacts']} kontakter" if len(used) > 1 else "") + ")</span>" for r in used]
    return ("Regelverk " if len(parts) == 1 else "Regelverk, varje kontakt enligt det som gällde dess datum: ") + \
        "; ".join(parts)


def audit_html(audit: dict[str, Any], ruleset: RuleSet | RuleSets) -> str:
    """A self-contained Swedish report: no script, no external file, charts as inline SVG; prints well."""
    months = audit["months"]
    period = months[0] if len(months) == 1 else f"{months[0]} – {months[-1]}"
    t = audit["totals"]
    out = [
        "<!doctype html><html lang='sv'><head><meta charset='utf-8'>",
        f"<title>Registreringsgranskning BUP {period}</title><style>",
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:70em}"
        "table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ccc;padding:.25em .5em;"
        "font-size:.9em;text-align:left}th{background:#f3f3f3}.muted{color:#666}"
        "section{border-top:2px solid #1f5fa8;margin-top:2em;page-break-before:always}"
        "h1{color:#1f5fa8}.why{color:#8a1c1c;font-size:.85em}"
        ".legend span{display:inline-block;width:1em;height:1em;margin:0 .3em}"
        "@media print{body{margin:1cm}section{page-break-before:always}}",
        "</style></head><body>",
        f"<h1>Registreringsgranskning, BUP {_e(period)}</h1>",
        f"<p>{_rulesets_sv(audit)}. "
        f"{t['patients']} patienter, {t['contacts_in_months']} kontakter under perioden, {t['measurement_points']} "
        f"mätpunkter, {t['registered_compared']} registreringar jämförda, varav {t['disagreements']} avviker från "
        f"reglerna. {t['waiting_at_month_end']} väntande vid månadsslut. {rows_sv(t['rejected_rows'])} kunde inte "
        f"läsas.</p>",
    ]
    if t["rejected_rows"]:
        out.append(f"<p class='rejected'><b>{rows_sv(t['rejected_rows'])} kunde inte läsas och är inte med i siffrorna"
                   "</b> (varje rad och kolumn med vad som förväntades står i rejected.csv).</p>")
    if audit["published"]:
        out.append("<p><b>Publiceringsversion:</b> celler med färre än 5 kontakter visas inte (–).</p>")
    out.append(_cost(audit))
    out.append(_assumptions(audit))
    out.append(_block_one(audit))
    out.append("<h2>Fynd om datakvalitet</h2><ul>" + "".join(
        f"<li>{_e(FINDING_SV.get(k, k))}: {n}</li>" for k, n in audit["finding_counts"].items()) + "</ul>")
    for r in audit["regions"]:
        out.append(f"<section><h2>{_e(r['region'])} – hela regionen</h2>")
        out.append(_figures(r["figures"]))
        if r.get("cost"):
            c = r["cost"]
            out.append(f"<p><b>Vad kostar det?</b> Avvikande registreringar: {_mnkr(c['effect_ore'], signed=True)} "
                       f"(som registrerat {_mnkr(c['as_registered_ore'])}, enligt reglerna "
                       f"{_mnkr(c['as_rules_ore'])}).</p>")
        if r["money"]:
            out.append("<h3>Prestationsmedel (månadens nivå)</h3><table><tr><th>Månad</th><th>Område</th>"
                       "<th>Som registrerat</th><th>Enligt reglerna</th><th>Skillnad</th></tr>" + "".join(
                           f"<tr><td>{_e(m['month'])}</td><td>{_e(AREA_SV[m['area']])}</td>"
                           f"<td>{_outcome(m['as_registered'])}</td><td>{_outcome(m['as_rules'])}</td>"
                           f"<td>{_mnkr(m.get('paid_difference_ore'), signed=True)}</td></tr>"
                           for m in r["money"]) + "</table>")
        out.append("</section>")
    for u in audit["units"]:
        reg = u["registrations"]
        out.append(f"<section><h2>{_e(u['unit'])} <span class='muted'>({_e(u['region'])})</span></h2>")
        out.append(f"<p>{reg['compared']} registrerade kontakter jämförda: {reg['agree']} stämmer, "
                   f"{reg['disagree']} avviker.</p>")
        out.append(_figures(u["figures"]))
        if u["matrix"]:
            out.append("<h3>Avvikelser: registrerat × enligt reglerna</h3><table><tr><th>Registrerat</th>"
                       "<th>Enligt reglerna</th><th>Antal</th><th>Regel</th><th>Kontakt-id</th></tr>" + "".join(
                           f"<tr><td>{_e(_type_sv(ruleset, c['registered']))}</td>"
                           f"<td>{_e(_type_sv(ruleset, c['rules']))}</td>"
                           f"<td>{_e(c['count'])}</td><td>{_e(', '.join(c['rules_fired']))}</td>"
                           f"<td>{_e(', '.join(c['contact_ids'][:20]))}{' …' if len(c['contact_ids']) > 20 else ''}"
                           f"</td></tr>" for c in u["matrix"]) + "</table>")
            out.append("<h3>Vanligaste mönstren</h3><ul>" + "".join(_pattern(c, ruleset) for c in u["matrix"][:3])
                       + "</ul>")
        if u["findings"]:
            out.append("<h3>Datakvalitet</h3><table><tr><th>Fynd</th><th>Månad</th><th>Händelse-id</th>"
                       "<th>Beskrivning</th></tr>" + "".join(
                           f"<tr><td>{_e(FINDING_SV.get(f['kind'], f['kind']))}</td><td>{_e(f['month'])}</td>"
                           f"<td>{_e(', '.join(f['event_ids']))}</td><td>{_e(f['detail'])}</td></tr>"
                           for f in u["findings"][:200]) + "</table>")
        out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out)
