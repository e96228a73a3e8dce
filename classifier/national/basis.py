"""The written basis to the government for one payout (seed 004): a self-contained Swedish HTML document.

It is the assessment (assess.py) as of the basis's cut-off, laid out: the assessment per region and
requirement, the money table of all 21 regions, Riket, what is not reported and what was
supplemented, the method with every interpretation and its source, and the rule set's and the
store's versions. Published, so every cell under 5 is suppressed with the reporting layer's own
rule (report.suppress_report, agreement.yaml `publication`).
"""

from __future__ import annotations

import copy
import html
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from classifier.national.deliveries import settings
from classifier.reporting.figures import NATION
from classifier.reporting.money import load_agreement
from classifier.reporting.report import suppress_report

MONEY_COLUMNS = ("paid_ore", "held_ore", "to_bonus_ore", "bonus_ore", "total_ore")
AREA_SV = {"first_visit": "Första besök", "investigation": "Utredning", "treatment": "Behandling"}


def _e(v: Any) -> str:
    return html.escape("–" if v is None else str(v))


def _n(v: Any, suppressed: bool = False) -> str:
    if suppressed:
        return "&lt;5"
    if v is None:
        return "–"
    return f"{v:,}".replace(",", " ") if isinstance(v, int) else str(v).replace(".", ",")


def _kr(ore: int | None) -> str:
    """Whole öre as kronor with two decimals, Swedish style, exactly (no float on the way)."""
    if ore is None:
        return "–"
    return f"{ore // 100:,}".replace(",", " ") + f",{ore % 100:02d}"


def _assessed(m: dict[str, Any]) -> str:
    """The month's assessment in words: the tier, the status when it says more, and why it did not pay in full."""
    words = [m["tier"]]
    status = (m.get("status_words") or {}).get("sv")
    if status and m["status_words"]["code"] != "reported" and status != m["tier"]:
        words.append(status)
    words += [w["sv"] for w in m.get("why_not_met") or []]
    return "<br>".join(_e(w) for w in words if w)


def published(assessment: dict[str, Any]) -> dict[str, Any]:
    """A copy with every cell under the publication limit suppressed (the monthly report's rule)."""
    agr = load_agreement()
    report = {"figures": [{**f, "level": "nation" if f["region"] == NATION else "region", "unit": f["region"]}
                          for f in copy.deepcopy(assessment["figures"])],
              "money": copy.deepcopy(assessment["money"]), "without_wait_start": []}
    suppress_report(report, int(agr["publication"]["suppress_below"]))
    return {**assessment, "figures": report["figures"], "money": report["money"]}


def basis_html(assessment: dict[str, Any], payout: str) -> str:
    """The basis for one payout (`augusti` or `december`) as one HTML page with no script or external file."""
    a = published(assessment)
    agr = load_agreement()
    pay = next(p for p in a["money"]["payouts"] if p["payout"] == payout)
    months = set(pay["months"])
    out = ["<!doctype html><html lang='sv'><head><meta charset='utf-8'>",
           f"<title>Underlag prestationsmedel BUP – utbetalning {_e(payout)} {a['year']}</title><style>"
           "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:75em}"
           "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #bbb;padding:.2em .45em;"
           "font-size:.85em;text-align:left}td.n{text-align:right}th{background:#eee}.muted{color:#555}"
           "section{page-break-inside:avoid}@media print{body{margin:1cm}}</style></head><body>",
           f"<h1>Bedömning av prestationskraven och beräkning av prestationsmedel – utbetalning {_e(payout)} "
           f"{a['year']}</h1>",
           f"<p>Överenskommelsen om ökad tillgänglighet till barn- och ungdomspsykiatrin 2025–2026. Underlaget "
           f"bygger enbart på regionernas leveranser till Socialstyrelsen som tagits emot senast "
           f"<b>{_e(a['cutoff'])}</b>. Månader: {_e(', '.join(pay['months']))}.</p>",
           "<p class='muted'>Regelverk (det som gällde vid varje månads slut): "
           + "; ".join(f"{_e(r['name'])} {_e(r['version'])} (sha256 {_e(r['sha256'])})" for r in a["rulesets"])
           + f"; överenskommelsens data sha256 {_e(a['agreement_sha256'])}; "
           f"leveranslager {_e(a['store']['backend'])}: {a['store']['files']} filer, varav {a['store']['accepted']} "
           f"godtagna, sha256 {_e(a['store']['sha256'])}. Celler med färre än 5 kontakter visas som &lt;5.</p>"]
    # the money table of all 21 regions, and Riket
    out.append("<h2>Prestationsmedel per region (kronor)</h2><table><tr><th>Region</th><th>Utbetalas</th>"
               "<th>Hålls inne (ej rapporterat)</th><th>Till bonuspott</th><th>Bonus</th><th>Summa</th></tr>")
    for r in pay["regions"]:
        out.append(f"<tr><td>{_e(r['region'])}</td>" + "".join(
            f"<td class='n'>{_kr(r[k])}</td>" for k in MONEY_COLUMNS) + "</tr>")
    out.append(f"<tr><th>{NATION}</th>" + "".join(f"<th class='n'>{_kr(pay[k])}</th>" for k in MONEY_COLUMNS)
               + "</tr></table>")
    if pay["pays_bonus_pots"]:
        out.append("<h3>Bonuspottarna</h3><ul>" + "".join(
            f"<li>{_e(p['label_sv'])}: {_kr(p['pot_ore'])} kr"
            f"{' (preliminär)' if p['provisional'] else ''}{' (ofullständigt underlag)' if p['partial'] else ''}; "
            f"ej fördelat {_kr(p['undistributed_ore'])} kr</li>"
            for p in a["money"]["bonus_pots"].values()) + "</ul>")
    b = a["block_one"]
    if b["regions"]:
        out.append(f"<h3>{_e(b['label_sv'])} ({b['annual_msek']:g} mnkr per år)</h3><p>Grundbelopp "
                   f"{_kr(b['regions'][0]['base_ore'])} kr per region, resten efter befolkningen 0–18 år (källa: "
                   f"{_e('; '.join(b['population_sources']))}). {_e(b['source'])}</p>"
                   + (f"<p><b>Ofullständigt:</b> {_e(b['note_sv'])}</p>" if b.get("note_sv") else "")
                   + "<table><tr><th>Region</th>"
                   "<th>Befolkning 0–18</th><th>Kronor</th></tr>" + "".join(
                       f"<tr><td>{_e(r['region'])}</td><td class='n'>{_n(r['population_0_18'])}</td>"
                       f"<td class='n'>{_kr(r['total_ore'])}</td></tr>" for r in b["regions"]) + "</table>")
    else:
        out.append(f"<h3>{_e(b['label_sv'])}</h3><p>{_e(b.get('note_sv'))}</p>")
    # the assessment per region and requirement
    out.append("<h2>Bedömning per region och krav</h2>")
    for r in a["money"]["regions"]:
        out.append(f"<section><h3>{_e(r['region'])}</h3><table><tr><th>Månad</th><th>Krav</th>"
                   "<th>Inom 30 dagar / genomförda</th><th>Andel</th><th>Föregående år</th><th>Väntande ≤ 30 d</th>"
                   "<th>Bedömning</th><th>Utbetalas kr</th><th>Till bonuspott kr</th><th>Hålls inne kr</th></tr>")
        for m in r["months"]:
            if m["month"] not in months:
                continue
            hid = set(m.get("suppressed", []))
            out.append(f"<tr><td>{_e(m['month'])}</td><td>{_e(AREA_SV[m['area']])}</td>"
                       f"<td class='n'>{_n(m['numerator'], 'numerator' in hid)} / "
                       f"{_n(m['denominator'], 'denominator' in hid)}</td>"
                       f"<td class='n'>{_n(m['share_within_30'], 'share_within_30' in hid)}</td>"
                       f"<td class='n'>{_n(m['last_year_share_within_30'], 'last_year_share_within_30' in hid)}</td>"
                       f"<td class='n'>{_n(m['waiting_share_le30'], 'waiting_share_le30' in hid)}</td>"
                       f"<td>{_assessed(m)}</td><td class='n'>{_kr(m['paid_ore'])}</td>"
                       f"<td class='n'>{_kr(m['to_bonus_ore'])}</td><td class='n'>{_kr(m['held_ore'])}</td></tr>")
        for q in r["queue"]:
            if q["payout"] != payout:
                continue
            hid = set(q.get("suppressed", []))
            out.append(f"<tr><td>{_e(q['period'])}</td><td>Genomförda första besök / nytillkomna</td>"
                       f"<td class='n'>{_n(q['completed'], 'completed' in hid)} / "
                       f"{_n(q['new_on_list'], 'new_on_list' in hid)}</td>"
                       f"<td class='n'>{_n(q['completed_per_new_pct'], 'completed_per_new_pct' in hid)}</td>"
                       f"<td></td><td></td><td>{_assessed({**q, 'tier': q['tier'] or q['note']})}</td>"
                       f"<td class='n'>{_kr(q['paid_ore'])}</td><td class='n'>{_kr(q['to_bonus_ore'])}</td>"
                       f"<td class='n'>{_kr(q['held_ore'])}</td></tr>")
        out.append("</table></section>")
    # Riket's figures
    out.append(f"<h2>{NATION}</h2><table><tr><th>Månad</th><th>Krav</th><th>Inom 30 dagar</th><th>Genomförda "
               "(nämnare)</th><th>Andel</th><th>Väntande</th><th>Väntande ≤ 30 d</th></tr>")
    for f in a["figures"]:
        if f["region"] == NATION and f["month"] in months:
            hid = set(f.get("suppressed", []))
            out.append(f"<tr><td>{_e(f['month'])}</td><td>{_e(AREA_SV[f['area']])}</td>"
                       + "".join(f"<td class='n'>{_n(f[k], k in hid)}</td>" for k in (
                           "numerator", "denominator", "share_within_30", "waiting", "waiting_le30")) + "</tr>")
    out.append("</table>")
    # not reported, supplemented
    missing = [n for n in a["money"]["not_reported"] if n["month"] in months]
    out.append(f"<h2>Ej rapporterat</h2><p>{len(missing)} region, krav och månad saknar godtagen leverans per "
               f"{_e(a['cutoff'])}; medlen för dem hålls inne tills rapporteringen förklaras slutlig.</p><ul>")
    out += [f"<li>{_e(n['region'])}: {_e(n['month'])}, {_e(AREA_SV[n['area']])}</li>" for n in missing]
    sup = [u for u in a["deliveries_used"] if u["supplemented"] and u["month"] in months]
    out.append("</ul><h2>Kompletterat</h2><ul>" + ("".join(
        f"<li>{_e(u['region'])} {_e(u['month'])} {_e(u['file'])}: leverans {u['delivery_id']} mottagen "
        f"{_e(u['received_at'])} (sha256 {_e(u['sha256'][:16])}…)</li>" for u in sup) or "<li>Inget.</li>") + "</ul>")
    # method and interpretations
    nat = settings()
    out.append("<h2>Metod och tolkningar</h2><ul>"
               "<li>Varje leverans kontrolleras (kolumner, region, månad, datum inom månaden, fas, avvikelse, "
               "väntetid mot datum, dubbletter, inga personnummer) och lagras med kontrollsumma, mottagningstid "
               "och avsändare. En senare leverans för samma region och månad är en komplettering som ersätter "
               "den tidigare; inget tas bort.</li>"
               "<li>Täljare och nämnare räknas ur leveransernas rader med regelverkets undantagstabell och "
               "30-dagarsgräns, på samma sätt som regionens egen månadsrapport.</li>"
               f"<li>Sista leveransdag: den {nat['due_day']['day_of_next_month']}:e i månaden efter. Källa: "
               f"{_e(nat['due_day']['source'])} {_e(nat['due_day']['interpretation'])}</li>"
               f"<li>Kompletteringar begärs inom {nat['notices']['supplement_days']} dagar. "
               f"{_e(nat['notices']['source'])}</li>"
               f"<li>Prestationskrav, nivåer, bonuspottar och utbetalningar: {_e(agr['source'])}</li>"
               "<li>Krav som lyder ”minst” jämförs exakt (74,975 % når inte 75 %); andelar avrundas bara när de "
               "visas. Beloppen räknas i hela ören, så att utbetalt, till bonuspott, innehållet och ej fördelat "
               "summerar till potterna på öret.</li>"
               f"<li>[tolkning] {_e(agr['words']['status']['nothing_completed']['sv'])}.</li>"
               "<li>[tolkning] Ej rapporterad månad är inte ”målet ej uppnått”: medlen hålls inne tills "
               "rapporteringen förklaras slutlig.</li>"
               "<li>[tolkning] Bonuspottarna fördelas över alla 21 regioner efter andelen utbetalda medel för "
               "pottens krav; före slutlig rapportering är de preliminära.</li></ul>")
    out.append("</body></html>")
    return "\n".join(out)


def to_pdf(html_path: Path, pdf_path: Path) -> None:
    """Print the basis to PDF with headless Chromium ($BUP_CHROMIUM, else `chromium` on PATH): no new library.

    Raises RuntimeError when no Chromium is found or it fails (the HTML is written either way)."""
    exe = os.environ.get("BUP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        raise RuntimeError("no Chromium found for the PDF (install Debian's chromium or set $BUP_CHROMIUM); "
                           "the HTML is written")
    with tempfile.TemporaryDirectory(prefix="bup-basis-") as profile:
        args = [exe, "--headless", "--disable-gpu", "--no-pdf-header-footer", f"--user-data-dir={profile}",
                f"--print-to-pdf={pdf_path.resolve()}", html_path.resolve().as_uri()]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0 or not pdf_path.exists() or pdf_path.read_bytes()[:5] != b"%PDF-":
        raise RuntimeError(f"Chromium could not print the PDF (exit {done.returncode})")
