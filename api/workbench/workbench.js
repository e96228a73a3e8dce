// The clinicians' workbench: plain JavaScript, no build step.
// Every answer comes from the public API (/v1/classify, /v1/classify/timeline), so the page
// shows exactly what a journal system gets. Labels of contact types, facts, exclusions and
// checklist items come from the rule set (GET /workbench/library); only the page's own
// words are here. Nothing is validated in the browser: the API's 422 says what is wrong,
// and each problem is shown next to the field its JSON path names.
"use strict";

// The page's own words: each key with its Swedish and its English text, side by side so that
// a missing translation shows.
const UI = {
  app_title: ["BUP-klassificeraren – arbetsbänk", "BUP classifier – workbench"],
  tab_contact: ["En kontakt", "One contact"],
  tab_journey: ["Patientresa", "Patient journey"],
  api_docs: ["API-dokumentation", "API documentation"],
  api_key: ["API-nyckel", "API key"],
  api_key_use: ["Använd", "Use"],
  api_key_wrong: ["Nyckeln godtogs inte.", "The key was not accepted."],
  library: ["Kliniska exempel", "Clinical examples"],
  library_hint: ["Klicka på ett exempel för att öppna det i formuläret eller som patientresa.", "Click an example to open it in the form or as a patient journey."],
  fs_contact: ["Kontakten", "The contact"],
  fs_care_request: ["Vårdbegäran", "Care request"],
  fs_evi: ["En väg in – checklista för direkt start", "En väg in – checklist for a direct start"],
  fs_history: ["Tidigare händelser (historik)", "Earlier events (history)"],
  fs_events: ["Patientens händelser i datumordning", "The patient's events in date order"],
  col_type: ["Händelse", "Event"],
  col_date: ["Datum", "Date"],
  col_setting: ["Enhet", "Setting"],
  col_contact_type: ["Kontakttyp", "Contact type"],
  col_problem: ["Hälsoproblem", "Health problem"],
  col_modality: ["Behandlingsform", "Modality"],
  col_id: ["Kontakt-id", "Contact id"],
  col_activity: ["Aktivitet", "Activity"],
  col_decision: ["Beslutsdatum", "Decision date"],
  col_urgent: ["Akut", "Urgent"],
  col_atc: ["ATC-koder", "ATC codes"],
  col_exclusion: ["Undantag", "Exclusion"],
  col_received: ["Vårdbegäran mottagen", "Care request received"],
  col_pathway: ["Scenario", "Scenario"],
  add_history: ["+ Lägg till händelse", "+ Add event"],
  add_event: ["+ Lägg till händelse", "+ Add event"],
  remove: ["Ta bort", "Remove"],
  patient_ref: ["Pseudonym patientreferens (valfri, aldrig personnummer)", "Pseudonymous patient reference (optional, never an identity number)"],
  classify: ["Klassificera", "Classify"],
  classify_journey: ["Klassificera resan", "Classify the journey"],
  clear: ["Töm", "Clear"],
  save_title: ["Spara som exempel", "Save as an example"],
  download: ["Ladda ner som exempelfil (YAML)", "Download as an example file (YAML)"],
  save_hint: ["Fallet sparas i exempelformatet med dagens svar som förväntat resultat. Lägg filen under examples/ så blir den ett regressionstest.", "The case is saved in the examples format with today's answer as the expectation. Put the file under examples/ and it becomes a regression test."],
  example_title: ["Rubrik", "Title"],
  example_story: ["Kort berättelse (svenska)", "Short story (Swedish)"],
  "contact.id": ["Kontakt-id", "Contact id"],
  "contact.date": ["Kontaktdatum (ÅÅÅÅ-MM-DD)", "Contact date (YYYY-MM-DD)"],
  "contact.setting": ["Enhet", "Setting"],
  "contact.activity": ["Aktivitet", "Activity"],
  "contact.urgent": ["Akut tillstånd", "Urgent condition"],
  "contact.health_problem": ["Hälsoproblem (t.ex. F90)", "Health problem (e.g. F90)"],
  "contact.treatment_modality": ["Behandlingsform", "Treatment modality"],
  "contact.medications_atc": ["Läkemedel, ATC-koder (kommaseparerade)", "Medications, ATC codes (comma-separated)"],
  "contact.kva_codes": ["KVÅ-koder (kommaseparerade)", "KVÅ codes (comma-separated)"],
  "contact.contact_form": ["Kontaktform", "Contact form"],
  "contact.decision_date": ["Beslutsdatum (ÅÅÅÅ-MM-DD)", "Decision date (YYYY-MM-DD)"],
  "contact.wait_exclusion": ["Undantag från väntetid", "Wait exclusion"],
  "care_request.received_date": ["Mottagen (ÅÅÅÅ-MM-DD)", "Received (YYYY-MM-DD)"],
  "care_request.pathway": ["Scenario för En väg in", "En väg in scenario"],
  unset: ["– ej angivet –", "– not given –"],
  yes: ["ja", "yes"],
  no: ["nej", "no"],
  "opt.setting.bup": ["BUP", "BUP"],
  "opt.setting.evi": ["En väg in", "En väg in"],
  "opt.activity.assessment": ["Bedömning", "Assessment"],
  "opt.activity.basic_investigation": ["Basutredning", "Basic investigation"],
  "opt.activity.investigation": ["Utredning", "Investigation"],
  "opt.activity.treatment": ["Behandling", "Treatment"],
  "opt.activity.follow_up": ["Uppföljning", "Follow-up"],
  "opt.activity.advice": ["Rådgivning/triage utan bedömning", "Advice/triage without assessment"],
  "opt.modality.pharmacological": ["Farmakologisk", "Pharmacological"],
  "opt.modality.psychological": ["Psykologisk", "Psychological"],
  "opt.modality.psychosocial": ["Psykosocial", "Psychosocial"],
  "opt.modality.other": ["Annan", "Other"],
  "opt.form.in_person": ["Fysiskt besök", "In person"],
  "opt.form.video": ["Video", "Video"],
  "opt.form.phone": ["Telefon", "Phone"],
  "opt.form.text": ["Text/chatt", "Text/chat"],
  "opt.form.other": ["Annan", "Other"],
  "opt.pathway.A": ["A – BUP har första kontakten", "A – BUP has the first contact"],
  "opt.pathway.B": ["B – En väg in i primärvården", "B – En väg in in primary care"],
  "opt.pathway.C": ["C – En väg in inom BUP", "C – En väg in inside BUP"],
  "opt.event.contact": ["Kontakt", "Contact"],
  "opt.event.investigation_concluded": ["Utredning avslutad", "Investigation concluded"],
  "opt.event.treatment_concluded": ["Behandling avslutad", "Treatment concluded"],
  "opt.event.care_closed": ["Vårdåtagande avslutat", "Care commitment closed"],
  measurement_point: ["Mätpunkt", "Measurement point"],
  care_guarantee: ["omfattas av vårdgarantin", "covered by the care guarantee"],
  not_measurement_point: ["Ingen mätpunkt – ingen väntetid mäts", "Not a measurement point – no wait is measured"],
  wait_start: ["Väntetiden startar", "Wait starts"],
  wait_days: ["Väntetid", "Wait"],
  days: ["dagar", "days"],
  within: ["Inom {n} dagar", "Within {n} days"],
  counted: ["Räknas", "Counted"],
  basis_care_request_received: ["vårdbegäran mottogs", "care request received"],
  basis_decision: ["beslutsdatum", "decision date"],
  no_start: ["kan inte beräknas (se varning)", "cannot be computed (see warning)"],
  counted_both: ["Räknas i både täljare (inom {n} dagar) och nämnare.", "Counted in both numerator (within {n} days) and denominator."],
  counted_denominator_only: ["Räknas i nämnaren men inte i täljaren: väntan över {n} dagar.", "Counted in the denominator, not the numerator: a wait over {n} days."],
  excluded_both: ["Undantas från både täljare och nämnare: {why}.", "Excluded from numerator and denominator: {why}."],
  excluded_denominator: ["Undantas från nämnaren: {why} över {n} dagar.", "Excluded from the denominator: {why} over {n} days."],
  excluded_unknown: ["Räknas inte: väntetiden saknar startdatum.", "Not counted: the wait has no start date."],
  rule: ["Regel", "Rule"],
  source: ["Källa", "Source"],
  facts_used: ["Fakta som regeln använde", "Facts the rule used"],
  warnings: ["Varningar", "Warnings"],
  ruleset: ["Regelverk", "Rule set"],
  expected: ["Förväntat enligt exemplet", "Expected by the example"],
  matches: ["stämmer", "matches"],
  differs: ["skiljer sig", "differs"],
  errors_summary: ["Frågan avvisades: {n} fel. Se de markerade fälten.", "The request was rejected: {n} problem(s). See the marked fields."],
  lane_events: ["Händelser", "Events"],
  lane_window: ["Vårdåtagande (12 mån)", "Care commitment (12 mo)"],
  lane_waits: ["Väntetider", "Waits"],
  limit30: ["gräns {n} d", "limit {n} d"],
  limit12: ["12 mån", "12 mo"],
  journey_table: ["Klassificering per kontakt", "Classification per contact"],
  col_answer: ["Klassificering", "Classification"],
  col_wait: ["Väntetid", "Wait"],
  col_rule: ["Regel", "Rule"],
  col_warnings: ["Varningar", "Warnings"],
  filter: ["Sök bland exemplen (t.ex. PVV, scenario C, F90)", "Search the examples (e.g. PVV, scenario C, F90)"],
  rejected_at: ["avvisas vid", "rejected at"],
  "err.missing": ["Obligatoriskt fält saknas", "Required field is missing"],
  "err.extra_forbidden": ["Okänt fält", "Unknown field"],
  "err.literal_error": ["Ogiltigt val", "Not one of the allowed values"],
  "err.bool_type": ["Ska vara ja eller nej", "Must be true or false"],
  "err.string_pattern_mismatch": ["Fel format på koden", "The code has the wrong format"],
  "err.string_too_long": ["För lång text", "Text too long"],
  "err.too_long": ["För många värden", "Too many values"],
  network_error: ["Tjänsten svarade inte: {msg}", "The service did not answer: {msg}"],
  fires: ["utlöser", "fires"],
  misses: ["missar precis", "just misses"],
  "opt.activity_source.given": ["angiven", "given"],
  "opt.activity_source.kva": ["från KVÅ-kod", "from a KVÅ code"],
};

const OPTIONS = {
  setting: ["bup", "evi"],
  activity: ["assessment", "basic_investigation", "investigation", "treatment", "follow_up", "advice"],
  modality: ["pharmacological", "psychological", "psychosocial", "other"],
  form: ["in_person", "video", "phone", "text", "other"],
  exclusion: ["PVV", "MOV", "SOV"],
  pathway: ["A", "B", "C"],
  event: ["contact", "investigation_concluded", "treatment_concluded", "care_closed"],
  contact_type: ["first_visit", "investigation", "treatment", "return_visit", "acute", "outside_model"],
};

// The one-contact form: each field is named by its JSON path in the request.
const CONTACT_FIELDS = [
  ["contact.id", "text"], ["contact.date", "text"], ["contact.setting", "select", "setting", true],
  ["contact.activity", "select", "activity"], ["contact.health_problem", "text"],
  ["contact.treatment_modality", "select", "modality"], ["contact.decision_date", "text"],
  ["contact.urgent", "bool"], ["contact.contact_form", "select", "form"],
  ["contact.wait_exclusion", "select", "exclusion"], ["contact.medications_atc", "list"],
  ["contact.kva_codes", "list"],
];
const CARE_REQUEST_FIELDS = [["care_request.received_date", "text"], ["care_request.pathway", "select", "pathway", true]];
// History and timeline rows: [column key, kind, option list, the event types that have it (null: all)].
const HISTORY_COLUMNS = [
  ["type", "select", "event", null], ["date", "text", null, null],
  ["setting", "select", "setting", ["contact"]], ["contact_type", "select", "contact_type", ["contact"]],
  ["health_problem", "text", null, ["contact", "investigation_concluded", "treatment_concluded"]],
  ["treatment_modality", "select", "modality", ["contact", "treatment_concluded"]],
];
const EVENT_COLUMNS = [
  ["type", "select", "event", null], ["date", "text", null, null], ["contact.id", "text", null, ["contact"]],
  ["contact.setting", "select", "setting", ["contact"]], ["contact.activity", "select", "activity", ["contact"]],
  ["health_problem", "text", null, ["contact", "investigation_concluded", "treatment_concluded"]],
  ["treatment_modality", "select", "modality", ["contact", "treatment_concluded"]],
  ["contact.decision_date", "text", null, ["contact"]], ["contact.urgent", "bool", null, ["contact"]],
  ["contact.medications_atc", "list", null, ["contact"]], ["contact.wait_exclusion", "select", "exclusion", ["contact"]],
  ["care_request.received_date", "text", null, ["contact"]], ["care_request.pathway", "select", "pathway", ["contact"]],
];

// Each row column's header, so that a screen reader names the control.
const COLUMN_LABEL = {
  type: "col_type", date: "col_date", setting: "col_setting", contact_type: "col_contact_type",
  health_problem: "col_problem", treatment_modality: "col_modality", "contact.id": "col_id",
  "contact.setting": "col_setting", "contact.activity": "col_activity", "contact.decision_date": "col_decision",
  "contact.urgent": "col_urgent", "contact.medications_atc": "col_atc", "contact.wait_exclusion": "col_exclusion",
  "care_request.received_date": "col_received", "care_request.pathway": "col_pathway",
};

const state = { lang: "sv", lib: null, current: null, lastAnswer: null, lastJourney: null, view: "contact" };
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

function t(key, vars = {}) {
  const text = UI[key] ? UI[key][state.lang === "sv" ? 0 : 1] : key;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function optionLabel(list, value) {
  if (list === "contact_type") return label(state.lib.contact_types[value]) || value;
  if (list === "exclusion") return `${value} – ${state.lib.exclusions[value]["name_" + state.lang]}`;
  return t(`opt.${list}.${value}`);
}

function label(entry) { return entry ? entry["label_" + state.lang] || entry.label_sv : ""; }

function input(kind, list, path, required) {
  if (kind === "select") {
    const s = el("select", { "data-path": path });
    if (!required) s.append(el("option", { value: "", text: t("unset") }));
    for (const v of OPTIONS[list]) s.append(el("option", { value: v, text: optionLabel(list, v) }));
    return s;
  }
  if (kind === "bool") return el("input", { type: "checkbox", "data-path": path });
  return el("input", { type: "text", "data-path": path, "data-kind": kind, autocomplete: "off" });
}

// ---- reading and writing form controls --------------------------------------------

function readControl(ctrl) {
  if (ctrl.type === "checkbox") return ctrl.checked ? true : undefined;
  const raw = ctrl.value.trim();
  if (raw === "") return undefined;
  if (ctrl.dataset.kind === "list") return raw.split(/[\s,;]+/).filter(Boolean);
  if (ctrl.dataset.kind === "tristate") return raw === "true";
  return raw;
}

function writeControl(ctrl, value) {
  if (ctrl.type === "checkbox") ctrl.checked = value === true;
  else if (Array.isArray(value)) ctrl.value = value.join(", ");
  else ctrl.value = value === undefined || value === null ? "" : String(value);
}

function getPath(obj, path) {
  return path.split(".").reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), obj);
}

function setPath(obj, path, value) {
  const keys = path.split(".");
  let o = obj;
  for (const k of keys.slice(0, -1)) o = o[k] ??= {};
  o[keys[keys.length - 1]] = value;
}

// ---- the one-contact form ------------------------------------------------------------

function buildContactForm() {
  const fields = $("#contact-fields");
  fields.replaceChildren(...CONTACT_FIELDS.map(([path, kind, list, req]) => fieldLabel(path, input(kind, list, path, req))));
  $("#care-request-fields").replaceChildren(
    ...CARE_REQUEST_FIELDS.map(([path, kind, list, req]) => fieldLabel(path, input(kind, list, path, req))));
  $("#evi-fields").replaceChildren(...state.lib.checklist.map((item) => {
    const path = `care_request.evi_assessment.${item.field}`;
    const s = el("select", { "data-path": path, "data-kind": "tristate" },
      el("option", { value: "", text: t("unset") }), el("option", { value: "true", text: t("yes") }),
      el("option", { value: "false", text: t("no") }));
    return el("label", {}, s, el("span", { text: `${item.id}: ${item["text_" + state.lang]}` }));
  }));
}

function fieldLabel(path, ctrl) {
  return el("label", {}, el("span", { text: t(path) }), ctrl);
}

function rowFor(columns, item) {
  const tr = el("tr");
  tr.extra = {};  // fields the table has no column for (kva_codes, evi_assessment, ...), kept as they were
  for (const [key, kind, list, types] of columns) {
    const ctrl = input(kind, list, key, key === "type");
    ctrl.dataset.key = key;
    ctrl.setAttribute("aria-label", t(COLUMN_LABEL[key]));
    if (types) ctrl.dataset.types = types.join(" ");
    tr.append(el("td", { class: kind === "bool" ? "narrow" : null }, ctrl));
  }
  tr.append(el("td", {}, el("button", { type: "button", class: "remove", text: t("remove") })));
  $("button.remove", tr).addEventListener("click", () => tr.remove());
  $("[data-key=type]", tr).addEventListener("change", () => applyRowType(tr));
  if (item) fillRow(tr, columns, item);
  applyRowType(tr);
  return tr;
}

function rowValueKey(key, type) {
  // A timeline contact keeps its date and problem inside `contact`; other events at the top.
  if (type !== "contact" || key === "type") return key;
  if (key === "date" || key === "health_problem" || key === "treatment_modality") return `contact.${key}`;
  return key;
}

function fillRow(tr, columns, item) {
  const type = item.type || "contact";
  const timeline = columns === EVENT_COLUMNS;
  const used = new Set();
  for (const [key] of columns) {
    const path = timeline ? rowValueKey(key, type) : key;
    const ctrl = $(`[data-key="${key}"]`, tr);
    writeControl(ctrl, getPath(item, path));
    used.add(path);
  }
  if (timeline && type === "contact") {
    tr.extra = structuredClone(item);
    for (const path of used) deletePath(tr.extra, path);
    for (const k of ["contact", "care_request"]) {
      if (tr.extra[k] === null || (tr.extra[k] && !Object.keys(tr.extra[k]).length)) delete tr.extra[k];
    }
    // what the row carries without a column (KVÅ codes, contact form, the checklist) is kept and named
    const kept = Object.entries(tr.extra).flatMap(([k, v]) => (k === "type" ? [] : Object.keys(v).map((f) => `${k}.${f}`)));
    if (kept.length) {
      tr.lastElementChild.append(el("span", { class: "muted kept", title: JSON.stringify(tr.extra), text: `+ ${kept.join(", ")}` }));
    }
  }
}

function deletePath(obj, path) {
  const keys = path.split(".");
  const parent = keys.length === 1 ? obj : getPath(obj, keys.slice(0, -1).join("."));
  if (parent && typeof parent === "object") delete parent[keys[keys.length - 1]];
}

function applyRowType(tr) {
  const type = $("[data-key=type]", tr).value;
  for (const ctrl of $$("[data-types]", tr)) ctrl.disabled = !ctrl.dataset.types.split(" ").includes(type);
}

function readRow(tr, columns) {
  const type = $("[data-key=type]", tr).value;
  const timeline = columns === EVENT_COLUMNS;
  const item = timeline && type === "contact" ? structuredClone(tr.extra) : {};
  for (const [key] of columns) {
    const ctrl = $(`[data-key="${key}"]`, tr);
    const path = timeline ? rowValueKey(key, type) : key;
    ctrl.dataset.path = `${tr.dataset.path}.${path}`;
    if (ctrl.disabled) continue;
    const value = readControl(ctrl);
    if (value !== undefined) setPath(item, path, value);
  }
  return item;
}

function renumber(tbody, name) {
  $$("tr", tbody).forEach((tr, i) => { tr.dataset.path = `${name}[${i}]`; });
}

function readInto(req, selector) {
  for (const ctrl of $$(selector)) {
    const v = readControl(ctrl);
    if (v !== undefined) setPath(req, ctrl.dataset.path, v);
  }
}

function readContactRequest() {
  const req = { contact: {} };
  readInto(req, "#contact-fields [data-path]");
  if ($("#has-care-request").checked) {
    req.care_request = {};
    readInto(req, "#care-request-fields [data-path]");
    if ($("#has-evi").checked) {
      req.care_request.evi_assessment = {};
      readInto(req, "#evi-fields [data-path]");
    }
  }
  const tbody = $("#history-table tbody");
  renumber(tbody, "history");
  const history = $$("tr", tbody).map((tr) => readRow(tr, HISTORY_COLUMNS));
  if (history.length) req.history = history;
  const ref = $("#patient-ref").value.trim();
  if (ref) req.patient = { ref };
  return req;
}

function fillContactForm(req) {
  clearErrors();
  for (const ctrl of $$("#contact-fields [data-path], #care-request-fields [data-path], #evi-fields [data-path]")) {
    writeControl(ctrl, getPath(req, ctrl.dataset.path));
  }
  $("#has-care-request").checked = !!req.care_request;
  $("#has-evi").checked = !!(req.care_request && req.care_request.evi_assessment);
  const tbody = $("#history-table tbody");
  tbody.replaceChildren(...(req.history || []).map((h) => rowFor(HISTORY_COLUMNS, h)));
  renumber(tbody, "history");
  $("#patient-ref").value = (req.patient && req.patient.ref) || "";
}

// ---- the journey form ----------------------------------------------------------------

function readTimeline() {
  const tbody = $("#events-table tbody");
  renumber(tbody, "events");
  const tl = { events: $$("tr", tbody).map((tr) => readRow(tr, EVENT_COLUMNS)) };
  const ref = $("#journey-patient-ref").value.trim();
  if (ref) tl.patient = { ref };
  return tl;
}

function fillTimeline(tl) {
  clearErrors();
  const tbody = $("#events-table tbody");
  tbody.replaceChildren(...(tl.events || []).map((e) => rowFor(EVENT_COLUMNS, e)));
  renumber(tbody, "events");
  $("#journey-patient-ref").value = (tl.patient && tl.patient.ref) || "";
}

// ---- talking to the API ----------------------------------------------------------------

// With access control on, the API wants a key: asked for when a 401 comes back, kept in
// sessionStorage (this tab only) and sent as `Authorization: Bearer`.
const KEY_STORE = "bup-api-key";

async function apiFetch(url, init = {}) {
  for (;;) {
    const key = sessionStorage.getItem(KEY_STORE);
    const headers = { ...(init.headers || {}), ...(key ? { Authorization: `Bearer ${key}` } : {}) };
    const res = await fetch(url, { ...init, headers });
    if (res.status !== 401) return res;
    sessionStorage.removeItem(KEY_STORE);
    const entered = await askKey(key !== null);
    if (!entered) return res;
    sessionStorage.setItem(KEY_STORE, entered);
  }
}

function askKey(wrong) {
  const form = $("#key-form"), input = $("#api-key");
  $("label[for=api-key]").textContent = t("api_key");
  $("#key-form button").textContent = t("api_key_use");
  $("#key-wrong").textContent = t("api_key_wrong");
  $("#key-wrong").hidden = !wrong;
  input.value = "";
  form.hidden = false;
  input.focus();
  return new Promise((resolve) => {
    form.onsubmit = (ev) => { ev.preventDefault(); form.hidden = true; resolve(input.value.trim()); };
  });
}

async function post(url, body) {
  const res = await apiFetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const ctype = res.headers.get("content-type") || "";
  const data = ctype.includes("json") ? await res.json() : await res.text();
  return { ok: res.ok, status: res.status, data, res };
}

function clearErrors(root = document) {
  $$(".field-error", root).forEach((n) => n.remove());
  $$(".invalid", root).forEach((n) => n.classList.remove("invalid"));
  $$(".general-errors", root).forEach((n) => n.replaceChildren());
}

// Put each problem next to the control its JSON path names (or the closest enclosing one).
function findControl(scope, path) {
  while (path) {
    const ctrl = scope.querySelector(`[data-path="${CSS.escape(path)}"]`);
    if (ctrl) return ctrl;
    const shorter = path.replace(/(\.[^.[\]]+|\[\d+\])$/, "");
    if (shorter === path) return null;
    path = shorter;
  }
  return null;
}

function showErrors(errors, scope, general) {
  clearErrors(scope);
  const unplaced = [];
  for (const err of errors) {
    const ctrl = findControl(scope, err.path.replace(/^\$\.?/, ""));
    if (!ctrl) { unplaced.push(err); continue; }
    ctrl.classList.add("invalid");
    const msg = el("div", { class: "field-error", "data-error-for": err.path, text: errorText(err) });
    (ctrl.tagName === "TR" ? ctrl.lastElementChild : ctrl.closest("label") || ctrl.parentElement).append(msg);
  }
  general.replaceChildren(el("p", { text: t("errors_summary", { n: errors.length }) }),
    ...unplaced.map((e) => el("div", { class: "field-error", "data-error-for": e.path, text: `${e.path}: ${errorText(e)}` })));
}

// The API explains in English; for the common kinds of error the page says it in Swedish first.
function errorText(err) {
  const key = `err.${err.type}`;
  if (state.lang === "en" || !UI[key]) return err.message;
  return err.type === "missing" ? t(key) : `${t(key)}: ${err.message}`;
}

async function classifyContact() {
  const form = $("#contact-form");
  const { ok, data } = await guarded(() => post("/v1/classify", readContactRequest()), $("#contact-general-errors"));
  if (data === undefined) return;
  if (!ok) {
    state.lastAnswer = null;
    showErrors(data.errors || [], form, $("#contact-general-errors"));
    $("#answer").replaceChildren(rejectionLine(state.current && state.current.expect, data.errors || []) || "");
    return;
  }
  clearErrors(form);
  state.lastAnswer = data;
  renderAnswer();
}

async function classifyJourney() {
  const form = $("#journey-form");
  const { ok, data } = await guarded(() => post("/v1/classify/timeline", readTimeline()), $("#journey-general-errors"));
  if (data === undefined) return;
  if (!ok) { state.lastJourney = null; $("#journey-answer").replaceChildren(); showErrors(data.errors || [], form, $("#journey-general-errors")); return; }
  clearErrors(form);
  state.lastJourney = { timeline: readTimeline(), results: data.results };
  renderJourney();
}

async function guarded(call, box) {
  try { return await call(); } catch (exc) {
    box.replaceChildren(el("p", { text: t("network_error", { msg: exc.message }) }));
    return { ok: false, data: undefined };
  }
}

// ---- showing one answer as a clinician reads it ------------------------------------------

function yesNo(v) { return el("span", { class: v ? "yes" : "no", text: v ? t("yes") : t("no") }); }

function countedText(w) {
  const n = w.limit_days;
  if (w.start_date === null) return t("excluded_unknown");
  if (w.exclusion && state.lib.exclusions[w.exclusion]) {
    const why = `${state.lib.exclusions[w.exclusion]["name_" + state.lang]} (${w.exclusion})`;
    if (!w.in_denominator && !w.in_numerator && state.lib.exclusions[w.exclusion].excluded_from_numerator) return t("excluded_both", { why });
    if (!w.in_denominator) return t("excluded_denominator", { why, n });
  }
  if (w.in_numerator && w.in_denominator) return t("counted_both", { n });
  return t("counted_denominator_only", { n });
}

function answerCard(a) {
  const lang = state.lang;
  const card = el("div", { class: "card", id: "answer-card", "data-contact-type": a.contact_type, "data-rule": a.rule.id });
  card.append(el("h3", { class: "contact-type" }, a[`label_${lang}`] || a.label_sv, " ", el("span", { class: "code", text: a.contact_type })));
  card.append(el("p", { class: "measurement" }, a.measurement_point
    ? [el("strong", { text: `${t("measurement_point")}: ` }), yesNo(true), a.care_guarantee ? ` – ${t("care_guarantee")}` : ""]
    : t("not_measurement_point")));
  if (a.wait) {
    const w = a.wait;
    const dl = el("dl", { class: "wait" });
    dl.append(el("dt", { text: t("wait_start") }),
      el("dd", { class: "wait-start", text: w.start_date ? `${w.start_date} (${t("basis_" + w.start_basis)})` : t("no_start") }));
    dl.append(el("dt", { text: t("wait_days") }), el("dd", { class: "wait-days", text: w.days === null ? "–" : `${w.days} ${t("days")}` }));
    dl.append(el("dt", { text: t("within", { n: w.limit_days }) }), el("dd", { class: "within" }, w.within_limit === null ? "–" : yesNo(w.within_limit)));
    dl.append(el("dt", { text: t("counted") }), el("dd", { class: "counted", text: countedText(w) }));
    card.append(dl);
  }
  card.append(el("p", { class: "rule" }, el("strong", { text: `${t("rule")} ${a.rule.id}: ` }), a.rule[`title_${lang}`]));
  card.append(el("p", { class: "source muted", text: `${t("source")}: ${a.rule.source}` }));
  const facts = el("table", { class: "facts" });
  for (const [k, v] of Object.entries(a.facts)) {
    const shown = typeof v === "boolean" ? yesNo(v) : (UI[`opt.${k}.${v}`] ? t(`opt.${k}.${v}`) : String(v));
    facts.append(el("tr", { "data-fact": k }, el("td", { text: label(state.lib.facts[k]) || k }), el("td", {}, shown)));
  }
  card.append(el("h4", { text: t("facts_used") }), facts);
  if (a.warnings.length) {
    card.append(el("h4", { text: t("warnings") }),
      ...a.warnings.map((w) => el("div", { class: "warning", "data-code": w.code, text: lang === "sv" ? w.message_sv : w.message })));
  }
  card.append(el("p", { class: "muted", text: `${t("ruleset")}: ${a.ruleset.name} ${a.ruleset.version} (${a.ruleset.sha256.slice(0, 12)})` }));
  return card;
}

function expectationLine(expected, answer) {
  if (!expected || Array.isArray(expected) || !expected.contact_type) return null;
  const same = expected.contact_type === answer.contact_type && (!expected.rule || expected.rule === answer.rule.id);
  const what = `${label(state.lib.contact_types[expected.contact_type])}${expected.rule ? ` (${expected.rule})` : ""}`;
  return el("p", { class: `expect ${same ? "match" : "mismatch"}`, text: `${t("expected")}: ${what} – ${same ? t("matches") : t("differs")}` });
}

function rejectionLine(expected, errors) {
  if (!expected || !expected.error_paths) return null;
  const got = [...new Set(errors.map((e) => e.path))].sort().join(", ");
  const same = got === [...expected.error_paths].sort().join(", ");
  return el("p", { class: `expect ${same ? "match" : "mismatch"}`,
    text: `${t("expected")}: ${t("rejected_at")} ${expected.error_paths.join(", ")} – ${same ? t("matches") : t("differs")}` });
}

function renderAnswer() {
  const a = state.lastAnswer;
  const box = $("#answer");
  if (!a) { box.replaceChildren(); return; }
  const ex = state.current;
  box.replaceChildren(answerCard(a), ex && ex.request ? expectationLine(ex.expect, a) : "");
}

// ---- the journey: table and time line --------------------------------------------------------

const DAY = 86400000;
const toMs = (iso) => Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10));
const toIso = (ms) => new Date(ms).toISOString().slice(0, 10);

function plusMonths(iso, months) {
  // Calendar months, the day clamped to the month's end (29 Feb + 12 months = 28 Feb), as the rules count.
  const y = +iso.slice(0, 4), m = +iso.slice(5, 7) - 1 + months, d = +iso.slice(8, 10);
  const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return toIso(Date.UTC(y, m, Math.min(d, last)));
}

function eventDate(e) { return e.type === "contact" ? e.contact && e.contact.date : e.date; }

function renderJourney() {
  const j = state.lastJourney;
  const box = $("#journey-answer");
  if (!j) { box.replaceChildren(); return; }
  const contacts = j.timeline.events.filter((e) => e.type === "contact");
  const expected = state.current && Array.isArray(state.current.expect) ? state.current.expect : null;
  const table = el("table", { class: "results", id: "journey-results" },
    el("thead", {}, el("tr", {}, ...["col_date", "col_id", "col_answer", "col_rule", "col_wait", "col_warnings"].map((k) => el("th", { text: t(k) })))));
  const tbody = el("tbody");
  j.results.forEach((r, i) => {
    const c = contacts[i].contact;
    const exp = expected && expected[i];
    const mismatch = exp && (exp.contact_type !== r.contact_type || (exp.rule && exp.rule !== r.rule.id));
    tbody.append(el("tr", { "data-contact-type": r.contact_type, "data-rule": r.rule.id, class: mismatch ? "mismatch" : null },
      el("td", { text: c.date }), el("td", { text: r.contact_id }),
      el("td", { text: `${r["label_" + state.lang]}${exp ? (mismatch ? ` ✗ ${t("expected")}: ${exp.contact_type} ${exp.rule || ""}` : " ✓") : ""}` }),
      el("td", { title: r.rule["title_" + state.lang], text: `${r.rule.id} – ${r.rule["title_" + state.lang]}` }),
      el("td", { class: "wait-days", text: r.wait && r.wait.days !== null ? `${r.wait.days} ${t("days")} (${r.wait.within_limit ? "≤" : ">"} ${r.wait.limit_days})` : "–" }),
      el("td", { text: r.warnings.map((w) => (state.lang === "sv" ? w.message_sv : w.message)).join(" ") })));
  });
  table.append(tbody);
  box.replaceChildren(el("h3", { text: t("journey_table") }), table, journeyChart(j.timeline.events, j.results));
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

// The care commitment on the time line: 12 months after each contact of a commitment type
// (rules/tables/contact_types.yaml), merged where they overlap, ended early by care_closed.
function commitmentWindows(events, results, months) {
  const windows = [];
  let open = null, ri = 0;
  for (const e of events) {
    if (e.type === "care_closed" && open && e.date <= open.end) { open.end = e.date; open.closed = true; open = null; }
    if (e.type !== "contact") continue;
    const r = results[ri++];
    if (!state.lib.commitment_types.includes(r.contact_type)) continue;
    const end = plusMonths(e.contact.date, months);
    if (open && e.contact.date <= open.end) open.end = end > open.end ? end : open.end;
    else windows.push(open = { start: e.contact.date, end, closed: false });
  }
  return windows;
}

function journeyChart(events, results) {
  if (!events.length) return "";
  const months = state.lib.wait.commitment_months;
  const contacts = events.filter((e) => e.type === "contact");
  const waits = results.map((r, i) => ({ r, date: contacts[i].contact.date })).filter((x) => x.r.wait && x.r.wait.start_date);
  const windows = commitmentWindows(events, results, months);
  const dates = events.map(eventDate).concat(waits.map((x) => x.r.wait.start_date), windows.map((w) => w.end));
  const lo = Math.min(...dates.map(toMs)) - 10 * DAY, hi = Math.max(...dates.map(toMs)) + 10 * DAY;
  const W = 1000, left = 130, right = 120, laneH = 22, labelRows = 5;
  const x = (iso) => left + ((toMs(iso) - lo) / (hi - lo)) * (W - left - right);
  const rowsTop = 24, windowY = rowsTop + labelRows * 15 + 14, waitsY = windowY + 34;
  const H = waitsY + Math.max(1, waits.length) * laneH + 40;
  const root = svg("svg", { class: "journey", id: "journey-chart", viewBox: `0 0 ${W} ${H}`, role: "img" });
  root.append(svg("text", { x: 4, y: rowsTop + 4, class: "lane-label" }, t("lane_events")));
  root.append(svg("text", { x: 4, y: windowY + 12, class: "lane-label" }, t("lane_window")));
  root.append(svg("text", { x: 4, y: waitsY + 14, class: "lane-label" }, t("lane_waits")));
  // axis with month ticks
  const axisY = H - 24;
  root.append(svg("line", { x1: left, x2: W - right, y1: axisY, y2: axisY, class: "axis" }));
  const first = new Date(lo);
  for (let m = Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + 1, 1); m < hi; ) {
    const d = new Date(m);
    const iso = toIso(m);
    root.append(svg("line", { x1: x(iso), x2: x(iso), y1: axisY, y2: axisY + 4, class: "axis" }));
    if (d.getUTCMonth() % 3 === 0) root.append(svg("text", { x: x(iso) - 18, y: axisY + 16 }, iso.slice(0, 7)));
    m = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }
  // the commitment windows and, where time (not care_closed) ends one, its 12-month limit
  for (const w of windows) {
    root.append(svg("rect", { x: x(w.start), y: windowY, width: Math.max(1, x(w.end) - x(w.start)), height: 16, class: "window" }));
    if (w.closed) continue;
    root.append(svg("line", { x1: x(w.end), x2: x(w.end), y1: windowY - 6, y2: axisY, class: "limit12", "data-limit": "12m" }));
    root.append(svg("text", { x: x(w.end) + 3, y: windowY + 12 }, `${t("limit12")} ${w.end}`));
  }
  // events, each label on the first row where it does not overlap the label before it
  const rowEnd = new Array(labelRows).fill(-Infinity);
  let ci = 0;
  events.forEach((e) => {
    const cx = x(eventDate(e));
    let text;
    if (e.type === "contact") {
      const r = results[ci++];
      text = `${r["label_" + state.lang]} (${r.rule.id})`;
      root.append(svg("circle", { cx, cy: windowY + 8, r: 5, fill: r.measurement_point ? "#1f5fa8" : "#9aa5b1", "data-contact-type": r.contact_type }));
    } else {
      text = t(`opt.event.${e.type}`);
      root.append(svg("rect", { x: cx - 4, y: windowY + 4, width: 8, height: 8, fill: "#6a4fb3", transform: `rotate(45 ${cx} ${windowY + 8})` }));
    }
    let row = rowEnd.findIndex((end) => end < cx);
    if (row < 0) row = rowEnd.indexOf(Math.min(...rowEnd));
    rowEnd[row] = cx + text.length * 5.6 + 6;
    const ly = rowsTop + row * 15;
    root.append(svg("line", { x1: cx, x2: cx, y1: ly + 3, y2: windowY + 3, stroke: "#c9d1db" }));
    root.append(svg("text", { x: cx + 2, y: ly, class: "event-label" }, text));
  });
  // waits as bars from their start to the contact, with the 30-day limit
  waits.forEach(({ r, date }, k) => {
    const w = r.wait, y = waitsY + k * laneH;
    const cls = w.exclusion && !w.in_denominator ? "bar-excluded" : w.within_limit ? "bar-ok" : "bar-late";
    const bar = svg("rect", { x: x(w.start_date), y, width: Math.max(2, x(date) - x(w.start_date)), height: 12, class: `wait-bar ${cls}`, "data-days": w.days });
    bar.append(svg("title", {}, `${r.contact_id}: ${w.start_date} → ${date}, ${w.days} ${t("days")}`));
    root.append(bar);
    const lim = toIso(toMs(w.start_date) + w.limit_days * DAY);
    root.append(svg("line", { x1: x(lim), x2: x(lim), y1: y - 3, y2: y + 15, class: "limit30", "data-limit": "30d" }));
    root.append(svg("text", { x: Math.max(x(date), x(lim)) + 4, y: y + 10 },
      `${w.days} ${t("days")}${w.exclusion ? ` ${w.exclusion}` : ""} · ${t("limit30", { n: w.limit_days })}`));
  });
  return root;
}

// ---- the library, views and language ------------------------------------------------------

function renderLibrary() {
  const box = $("#sections");
  box.replaceChildren(...state.lib.sections.map((s) => {
    const items = state.lib.examples.filter((e) => e.section === s.id);
    if (!items.length) return "";
    return el("div", { class: "section", "data-section": s.id },
      el("h3", { title: s.source, text: s["title_" + state.lang] }),
      el("ul", {}, ...items.map((e) => el("li", {}, el("button", {
        type: "button", class: "example", "data-example": e.name, title: e.name,
      }, e["title_" + state.lang], " ", el("span", { class: "kind", text: e.timeline ? `(${t("tab_journey").toLowerCase()})` : "" }))))));
  }));
  for (const b of $$("button.example", box)) b.addEventListener("click", () => openExample(b.dataset.example));
  filterLibrary();
}

// Show the examples whose titles, story, file name or request mention every word typed.
function filterLibrary() {
  const words = $("#library-filter").value.toLowerCase().split(/\s+/).filter(Boolean);
  for (const section of $$("#sections .section")) {
    let shown = 0;
    for (const b of $$("button.example", section)) {
      const ex = state.lib.examples.find((e) => e.name === b.dataset.example);
      const text = [ex.name, ex.title_sv, ex.title_en, ex.story, JSON.stringify(ex.request || ex.timeline)].join(" ").toLowerCase();
      const hit = words.every((w) => text.includes(w));
      b.parentElement.hidden = !hit;
      shown += hit;
    }
    section.hidden = shown === 0;
  }
}

async function openExample(name) {
  const ex = state.lib.examples.find((e) => e.name === name);
  state.current = ex;
  $$("button.example").forEach((b) => b.classList.toggle("current", b.dataset.example === name));
  $("#story-box").hidden = false;
  $("#story-title").textContent = ex["title_" + state.lang];
  $("#story-text").textContent = ex.story;
  $("#story-meta").textContent = `${name}.yaml${ex.fires.length ? ` · ${t("fires")} ${ex.fires.join(", ")}` : ""}${ex.misses.length ? ` · ${t("misses")} ${ex.misses.join(", ")}` : ""}`;
  $("#example-title").value = ex.title_sv;
  $("#example-story").value = ex.story.trim();
  if (ex.request) {
    showView("contact");
    fillContactForm(ex.request);
    await classifyContact();
  } else {
    showView("journey");
    fillTimeline(ex.timeline);
    await classifyJourney();
  }
}

function showView(view) {
  state.view = view;
  $("#view-contact").hidden = view !== "contact";
  $("#view-journey").hidden = view !== "journey";
  $$(".tab").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  for (const n of $$("[data-i18n]")) n.textContent = t(n.dataset.i18n);
  $("#lang").textContent = state.lang === "sv" ? "English" : "Svenska";
  $("#library-filter").placeholder = t("filter");
  $("#library-filter").setAttribute("aria-label", t("filter"));
  $("#lang").lang = state.lang === "sv" ? "en" : "sv";
  // rebuild the controls' labels and options, keeping what was entered
  const req = readContactRequest(), tl = readTimeline();
  const hadCare = $("#has-care-request").checked, hadEvi = $("#has-evi").checked;
  buildContactForm();
  fillContactForm(req);
  $("#has-care-request").checked = hadCare;
  $("#has-evi").checked = hadEvi;
  fillTimeline(tl);
  renderLibrary();
  if (state.current) $("#story-title").textContent = state.current["title_" + state.lang];
  if (state.current) $$("button.example").forEach((b) => b.classList.toggle("current", b.dataset.example === state.current.name));
  renderAnswer();
  renderJourney();
}

async function download() {
  const body = { title: $("#example-title").value.trim(), story: $("#example-story").value };
  if (state.view === "contact") body.request = readContactRequest(); else body.timeline = readTimeline();
  const { ok, data, res } = await guarded(() => post("/workbench/example", body), $("#save-errors"));
  if (data === undefined) return;
  if (!ok) { showErrors(data.errors || [], $("#save-box"), $("#save-errors")); return; }
  clearErrors($("#save-box"));
  const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") || "");
  const a = el("a", { href: URL.createObjectURL(new Blob([data], { type: "application/yaml" })), download: name ? name[1] : "example.yaml" });
  document.body.append(a);
  a.click();
  a.remove();
}

async function main() {
  const res = await apiFetch("/workbench/library");
  state.lib = await res.json();
  $("#ruleset-id").textContent = `${state.lib.ruleset.name} ${state.lib.ruleset.version}`;
  buildContactForm();
  applyLanguage();
  showView("contact");
  $("#contact-form").addEventListener("submit", (ev) => { ev.preventDefault(); classifyContact(); });
  $("#journey-form").addEventListener("submit", (ev) => { ev.preventDefault(); classifyJourney(); });
  $("#add-history").addEventListener("click", () => {
    const tbody = $("#history-table tbody");
    tbody.append(rowFor(HISTORY_COLUMNS, null));
    renumber(tbody, "history");
  });
  $("#add-event").addEventListener("click", () => {
    const tbody = $("#events-table tbody");
    tbody.append(rowFor(EVENT_COLUMNS, null));
    renumber(tbody, "events");
  });
  $("#clear-contact").addEventListener("click", () => { state.current = null; state.lastAnswer = null; fillContactForm({}); renderAnswer(); });
  $("#clear-journey").addEventListener("click", () => { state.current = null; state.lastJourney = null; fillTimeline({}); renderJourney(); });
  $$(".tab").forEach((b) => b.addEventListener("click", () => showView(b.dataset.view)));
  $("#lang").addEventListener("click", () => { state.lang = state.lang === "sv" ? "en" : "sv"; applyLanguage(); });
  $("#download").addEventListener("click", download);
  $("#library-filter").addEventListener("input", filterLibrary);
  document.body.dataset.ready = "true";
}

main();
