// The clinicians' workbench: plain JavaScript, no build step.
// Every answer comes from the public API (/v1/classify, /v1/classify/timeline), so the page
// shows exactly what a journal system gets. Labels of contact types, facts, rules, exclusions
// and checklist items come from the rule set (GET /workbench/library); only the page's own
// words are here. Nothing is validated in the browser: the API's 422 says what is wrong (in
// Swedish too: message_sv), and each problem is shown next to the field its JSON path names.
// What is on screen is what is sent: there is no hidden state behind the controls.
"use strict";

// The page's own words: each key with its Swedish and its English text, side by side so that
// a missing translation shows.
const UI = {
  app_title: ["BUP-klassificeraren – arbetsbänk", "BUP classifier – workbench"],
  skip: ["Hoppa till formuläret", "Skip to the form"],
  jump_answer: ["Till svaret ↓", "To the answer ↓"],
  tab_contact: ["En kontakt", "One contact"],
  tab_journey: ["Patientresa", "Patient journey"],
  api_docs: ["API-dokumentation", "API documentation"],
  api_key: ["API-nyckel", "API key"],
  api_key_use: ["Använd", "Use"],
  api_key_wrong: ["Nyckeln godtogs inte.", "The key was not accepted."],
  definitions: ["Definitionerna", "The definitions"],
  library: ["Kliniska exempel", "Clinical examples"],
  library_hint: ["Klicka på ett exempel för att öppna det i formuläret eller som patientresa.", "Click an example to open it in the form or as a patient journey."],
  fs_contact: ["Kontakten", "The contact"],
  fs_care_request: ["Vårdbegäran", "Care request"],
  care_request_hint: ["Ifylld vårdbegäran skickas med; avmarkera för att ta bort den.", "A filled-in care request is sent; untick to remove it."],
  fs_evi: ["En väg in – checklista för direkt start", "En väg in – checklist for a direct start"],
  evi_hint: ["D1–D7 ska besvaras ja för att vara uppfyllda (ej besvarad = ej uppfylld). X1 är omvänd: där är nej det goda svaret, och ej besvarad betyder att ingen tvivlar.", "D1–D7 must be answered yes to be met (not answered = not met). X1 is the other way round: no is the good answer, and not answered means nobody doubts."],
  fs_history: ["Tidigare händelser (historik)", "Earlier events (history)"],
  history_hint: ["Kontakttyp för tidigare kontakter är tjänstens egna tidigare svar, som journalen sparar.", "The contact type of earlier contacts is the service's own earlier answer, stored by the journal."],
  fs_events: ["Patientens händelser i datumordning", "The patient's events in date order"],
  event_n: ["Händelse {n}", "Event {n}"],
  col_type: ["Händelse", "Event"],
  date: ["Datum (ÅÅÅÅ-MM-DD)", "Date (YYYY-MM-DD)"],
  setting: ["Enhet", "Setting"],
  contact_type: ["Kontakttyp (tjänstens tidigare svar)", "Contact type (the service's earlier answer)"],
  health_problem: ["Hälsoproblem (t.ex. F90)", "Health problem (e.g. F90)"],
  treatment_modality: ["Behandlingsform", "Treatment modality"],
  add_history: ["+ Lägg till tidigare händelse", "+ Add an earlier event"],
  add_event: ["+ Lägg till händelse", "+ Add an event"],
  remove: ["Ta bort", "Remove"],
  remove_n: ["Ta bort händelse {n}", "Remove event {n}"],
  patient_ref: ["Pseudonym patientreferens (valfri, aldrig personnummer)", "Pseudonymous patient reference (optional, never an identity number)"],
  classify: ["Klassificera", "Classify"],
  classify_journey: ["Klassificera resan", "Classify the journey"],
  clear: ["Töm", "Clear"],
  share: ["Dela länk", "Share a link"],
  share_label: ["Länk till det som står i formuläret (innehållet ligger i länken, inte på servern)", "Link to what is in the form (the content is in the link, not on the server)"],
  open_file: ["Öppna exempelfil…", "Open an example file…"],
  print: ["Skriv ut", "Print"],
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
  "contact.kva_codes": ["KVÅ-koder (kommaseparerade; avgör aldrig)", "KVÅ codes (comma-separated; never decide)"],
  "contact.contact_form": ["Kontaktform", "Contact form"],
  "contact.decision_date": ["Beslutsdatum (ÅÅÅÅ-MM-DD)", "Decision date (YYYY-MM-DD)"],
  "contact.wait_exclusion": ["Undantag från väntetid", "Wait exclusion"],
  "care_request.received_date": ["Mottagen (ÅÅÅÅ-MM-DD)", "Received (YYYY-MM-DD)"],
  "care_request.pathway": ["Scenario för En väg in", "En väg in scenario"],
  unset: ["– ej angivet –", "– not given –"],
  unanswered_d: ["– ej besvarad (= ej uppfylld) –", "– not answered (= not met) –"],
  unanswered_x: ["– ej besvarad (= inget tvivel) –", "– not answered (= no doubt) –"],
  x1_yes: ["ja – BUP tvivlar", "yes – BUP doubts"],
  x1_no: ["nej – inget tvivel (det goda svaret)", "no – no doubt (the good answer)"],
  x1_prefix: ["omvänd fråga, nej är det goda svaret", "reversed question, no is the good answer"],
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
  "opt.pathway.none": ["ingen vårdbegäran", "no care request"],
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
  why_title: ["Varför", "Why"],
  why_rule: ["Regel {id} gäller: {title}. Det avgjordes av: {facts}.", "Rule {id} applies: {title}. It was decided by: {facts}."],
  why_wait_request: ["Väntetiden räknas från att vårdbegäran togs emot den {date}", "The wait counts from the day the care request was received, {date}"],
  why_wait_request_not_decision: [", inte från beslutet den {other}", ", not from the decision on {other}"],
  why_wait_decision: ["Väntetiden räknas från beslutet den {date} (utredning och behandling mäts från beslutet)", "The wait counts from the decision on {date} (investigations and treatments are measured from the decision)"],
  why_wait_decision_not_request: [", inte från vårdbegäran den {other}", ", not from the care request of {other}"],
  why_no_wait: ["Väntetiden kan inte beräknas: startdatumet saknas i frågan.", "The wait cannot be computed: its start date is missing from the request."],
  read_more: ["Läs mer i projektets definitioner:", "Read more in the project's definitions:"],
  status_provisional: ["Regelverket är preliminärt: det kontrolleras mot det fastställda definitionsdokumentet innan det gäller.", "The rule set is provisional: it is being checked against the settled definitions document."],
  status_confirmed: ["Regelverket är fastställt.", "The rule set is confirmed."],
  status_word_provisional: ["preliminärt", "provisional"],
  status_word_confirmed: ["fastställt", "confirmed"],
  rule: ["Regel", "Rule"],
  source: ["Källa", "Source"],
  facts_used: ["Fakta som regeln använde", "Facts the rule used"],
  warnings: ["Varningar", "Warnings"],
  ruleset: ["Regelverk", "Rule set"],
  commitment: ["Vårdåtagande", "Care commitment"],
  commitment_text: ["öppnat {opened}, senaste kontakt {latest}, gäller till {ends}", "opened {opened}, latest contact {latest}, lasts until {ends}"],
  no_commitment: ["kontakten hör inte till något vårdåtagande", "the contact belongs to no care commitment"],
  expected: ["Förväntat enligt exemplet", "Expected by the example"],
  matches: ["stämmer", "matches"],
  differs: ["skiljer sig", "differs"],
  errors_summary: ["Frågan avvisades: {n} fel. Se de markerade fälten.", "The request was rejected: {n} problem(s). See the marked fields."],
  lane_events: ["Händelser", "Events"],
  lane_window: ["Vårdåtagande", "Care commitment"],
  lane_waits: ["Väntetider", "Waits"],
  limit30: ["gräns {n} d", "limit {n} d"],
  limit12: ["slut", "ends"],
  closed_at: ["avslutat", "closed"],
  legend_ok: ["väntan inom gränsen", "wait within the limit"],
  legend_late: ["väntan över gränsen", "wait over the limit"],
  legend_excluded: ["undantagen väntan", "excluded wait"],
  legend_limit30: ["{n}-dagarsgräns", "{n}-day limit"],
  legend_window: ["vårdåtagande", "care commitment"],
  legend_limit12: ["vårdåtagandets slut (12 mån)", "end of the commitment (12 mo)"],
  legend_mp: ["kontakt med mätpunkt", "contact with a measurement point"],
  legend_other: ["kontakt utan mätpunkt", "contact without a measurement point"],
  legend_event: ["annan händelse", "other event"],
  chart_title: ["Patientresan på en tidslinje", "The patient journey on a time line"],
  journey_table: ["Klassificering per kontakt", "Classification per contact"],
  col_date: ["Datum", "Date"],
  col_id: ["Kontakt-id", "Contact id"],
  col_answer: ["Klassificering", "Classification"],
  col_wait: ["Väntetid", "Wait"],
  col_rule: ["Regel", "Rule"],
  col_warnings: ["Varningar", "Warnings"],
  filter: ["Sök bland exemplen (t.ex. PVV, scenario C, F90)", "Search the examples (e.g. PVV, scenario C, F90)"],
  rejected_at: ["avvisas vid", "rejected at"],
  network_error: ["Tjänsten svarade inte: {msg}", "The service did not answer: {msg}"],
  shows_rule: ["Exemplet visar regel {rules}.", "The example shows rule {rules}."],
  near_rule: ["Det liknar fall för regel {rules}, men den regeln gäller inte här.", "It resembles cases for rule {rules}, but that rule does not apply here."],
  from_file: ["från filen {name}", "from the file {name}"],
};

// One contact's fields, named by their JSON path inside the request (or the timeline event):
// [path, kind, option list, required (no "not given" choice)]. The form and each journey
// contact use the same list, so a journey can set every field a single contact can.
const CONTACT_FIELDS = [
  ["contact.id", "text"], ["contact.date", "text"], ["contact.setting", "select", "setting", true],
  ["contact.activity", "select", "activity"], ["contact.health_problem", "text"],
  ["contact.treatment_modality", "select", "modality"], ["contact.decision_date", "text"],
  ["contact.urgent", "bool"], ["contact.contact_form", "select", "form"],
  ["contact.wait_exclusion", "select", "exclusion"], ["contact.medications_atc", "list"],
  ["contact.kva_codes", "list"],
];
const CARE_REQUEST_FIELDS = [["care_request.received_date", "text"], ["care_request.pathway", "select", "pathway"]];
// The other events (history items and timeline events) by type.
const EVENT_FIELDS = {
  investigation_concluded: [["date", "text"], ["health_problem", "text"]],
  treatment_concluded: [["date", "text"], ["health_problem", "text"], ["treatment_modality", "select", "modality"]],
  care_closed: [["date", "text"]],
};
const HISTORY_CONTACT_FIELDS = [["date", "text"], ["setting", "select", "setting", true],
  ["contact_type", "select", "contact_type", true], ["health_problem", "text"], ["treatment_modality", "select", "modality"]];
const LANG_KEY = "bup-workbench-lang";

const state = { lang: "sv", lib: null, current: null, lastAnswer: null, lastRequest: null, lastJourney: null, view: "contact" };

function t(key, vars = {}) {
  const text = UI[key] ? UI[key][state.lang === "sv" ? 0 : 1] : key;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}

function label(entry) { return entry ? entry["label_" + state.lang] || entry.label_sv : ""; }

function optionLabel(list, value) {
  if (list === "contact_type") return label(state.lib.contact_types[value]) || value;
  if (list === "exclusion") return `${value} – ${state.lib.exclusions[value]["name_" + state.lang]}`;
  return UI[`opt.${list}.${value}`] ? t(`opt.${list}.${value}`) : value;  // a value new to the page shows as sent
}

const MONTHS_SV = ["januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober", "november", "december"];
const MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
function longDate(iso) {
  const months = state.lang === "sv" ? MONTHS_SV : MONTHS_EN;
  return `${+iso.slice(8, 10)} ${months[+iso.slice(5, 7) - 1]} ${iso.slice(0, 4)}`;
}

// ---- controls: one per field, each inside its label; data-key is its path in the item -----

function control(key, kind, list, required) {
  let ctrl;
  if (kind === "select") {
    ctrl = el("select", {});
    if (!required) ctrl.append(el("option", { value: "", text: t("unset") }));
    for (const v of state.lib.options[list]) ctrl.append(el("option", { value: v, text: optionLabel(list, v) }));
  } else if (kind === "bool") {
    ctrl = el("input", { type: "checkbox" });
  } else {
    ctrl = el("input", { type: "text", autocomplete: "off", "data-kind": kind });
  }
  ctrl.dataset.key = key;
  return ctrl;
}

function field(key, kind, list, required, text) {
  const ctrl = control(key, kind, list, required);
  const name = el("span", { text: text || t(key) });
  return kind === "bool" ? el("label", { class: "check" }, ctrl, name) : el("label", {}, name, ctrl);
}

function readControl(ctrl) {
  if (ctrl.type === "checkbox") return ctrl.checked ? true : undefined;
  const raw = ctrl.value.trim();
  if (raw === "") return undefined;
  if (ctrl.dataset.kind === "list") return raw.split(/[\s,;]+/).filter(Boolean);
  if (ctrl.dataset.kind === "tristate") return raw === "true";
  return raw;
}

// An absent value shows as "not given", or as the first choice where the field has a default.
function writeControl(ctrl, value) {
  if (ctrl.type === "checkbox") ctrl.checked = value === true;
  else if (Array.isArray(value)) ctrl.value = value.join(", ");
  else if (value === undefined || value === null) ctrl.value = ctrl.tagName === "SELECT" ? ctrl.options[0].value : "";
  else ctrl.value = String(value);
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

// ---- one contact with its care request and checklist (the form, and each journey contact) ----

function checklistField(item) {
  const x = item.required === false;  // the reversed item (X1): no is the good answer (evi_checklist.yaml)
  const s = el("select", { "data-kind": "tristate" },
    el("option", { value: "", text: t(x ? "unanswered_x" : "unanswered_d") }),
    el("option", { value: "true", text: x ? t("x1_yes") : t("yes") }),
    el("option", { value: "false", text: x ? t("x1_no") : t("no") }));
  s.dataset.key = `care_request.evi_assessment.${item.field}`;
  const text = `${item.id}${x ? ` (${t("x1_prefix")})` : ""}: ${item["text_" + state.lang]}`;
  return el("label", { class: x ? "checklist-item reversed" : "checklist-item" }, el("span", { text }), s);
}

function contactEditor(single) {
  const ids = (id) => (single ? id : null);
  const care = el("input", { type: "checkbox", id: ids("has-care-request"), class: "has-care-request" });
  care.dataset.key = "care_request";
  const evi = el("input", { type: "checkbox", id: ids("has-evi"), class: "has-evi" });
  evi.dataset.key = "care_request.evi_assessment";
  const box = el("div", { class: single ? "contact-editor" : "contact-editor folding" },
    el("fieldset", {}, el("legend", { text: t("fs_contact") }),
      el("div", { class: "grid contact-fields" }, ...CONTACT_FIELDS.map(([k, kind, list, req]) => field(k, kind, list, req)))),
    el("fieldset", { class: "care-request" },
      el("legend", {}, el("label", { class: "check" }, care, el("span", { text: t("fs_care_request") }))),
      el("p", { class: "muted", text: t("care_request_hint") }),
      el("div", { class: "grid care-request-fields" }, ...CARE_REQUEST_FIELDS.map(([k, kind, list, req]) => field(k, kind, list, req))),
      el("fieldset", { class: "inner evi" },
        el("legend", {}, el("label", { class: "check" }, evi, el("span", { text: t("fs_evi") }))),
        el("p", { class: "muted", text: t("evi_hint") }),
        el("div", { class: "checklist" }, ...state.lib.checklist.map(checklistField)))));
  // Whatever is filled in is sent: editing a care-request field ticks its box, unticking empties it.
  const careFields = $$(".care-request-fields [data-key]", box), eviFields = $$(".checklist [data-key]", box);
  const clearAll = (ctrls) => ctrls.forEach((c) => writeControl(c, undefined));
  careFields.forEach((c) => c.addEventListener("input", () => { care.checked = true; }));
  careFields.forEach((c) => c.addEventListener("change", () => { care.checked = true; }));
  eviFields.forEach((c) => c.addEventListener("change", () => { care.checked = true; evi.checked = true; }));
  care.addEventListener("change", () => { if (!care.checked) { clearAll(careFields); clearAll(eviFields); evi.checked = false; } });
  evi.addEventListener("change", () => { if (evi.checked) care.checked = true; else clearAll(eviFields); });
  [care, evi].forEach((c) => c.addEventListener("change", () => foldCareRequest(box)));
  careFields.forEach((c) => ["input", "change"].forEach((ev) => c.addEventListener(ev, () => foldCareRequest(box))));
  foldCareRequest(box);
  return box;
}

// The checklist stays folded until a care request is ticked; in a journey's cards the care request and
// the checklist each until its own box is ticked, so a journey does not repeat the form for each contact.
function foldCareRequest(box) {
  box.classList.toggle("no-care-request", !$(".has-care-request", box).checked);
  box.classList.toggle("no-evi", !$(".has-evi", box).checked);
}

function readContactEditor(box, into) {
  const care = $(".has-care-request", box), evi = $(".has-evi", box);
  for (const ctrl of $$("[data-key]", box)) {
    if (ctrl === care || ctrl === evi) continue;
    const v = readControl(ctrl);
    if (v !== undefined) setPath(into, ctrl.dataset.key, v);
  }
  into.contact ??= {};
  if (care.checked) into.care_request ??= {};
  if (evi.checked) into.care_request.evi_assessment ??= {};
  return into;
}

function fillContactEditor(box, item) {
  for (const ctrl of $$("[data-key]", box)) {
    if (ctrl.type !== "checkbox" || ctrl.dataset.key.startsWith("contact.")) writeControl(ctrl, getPath(item, ctrl.dataset.key));
  }
  $(".has-care-request", box).checked = !!item.care_request;
  $(".has-evi", box).checked = !!(item.care_request && item.care_request.evi_assessment);
  foldCareRequest(box);
}

// ---- event cards: history items and journey events -----------------------------------------

// A card holds one event; its controls are rebuilt when its type changes, carrying the common values.
function eventCard(list, item) {
  const li = el("li", { class: "event-card" });
  li.dataset.list = list;
  const type = control("type", "select", "event", true);
  const remove = el("button", { type: "button", class: "remove", text: t("remove") });
  li.append(el("div", { class: "event-head" }, el("span", { class: "event-n" }), el("label", { class: "inline" }, el("span", { text: t("col_type") }), type), remove),
    el("div", { class: "event-body" }));
  remove.addEventListener("click", () => { const ul = li.parentElement; li.remove(); renumber(ul); });
  type.addEventListener("change", () => {
    const before = readCard(li);
    const flat = before.type === "contact" && list === "events" ? { ...before.contact, ...before } : before;
    const date = flat.date || (before.contact && before.contact.date);
    const problem = flat.health_problem || (before.contact && before.contact.health_problem);
    const modality = flat.treatment_modality || (before.contact && before.contact.treatment_modality);
    const next = type.value === "contact" && list === "events"
      ? { type: "contact", contact: { date, health_problem: problem, treatment_modality: modality } }
      : { type: type.value, date, health_problem: problem, treatment_modality: modality };
    fillCard(li, next);
  });
  fillCard(li, item || { type: "contact" });
  return li;
}

function fillCard(li, item) {
  const type = item.type || "contact";
  writeControl($('[data-key="type"]', li), type);
  const body = $(".event-body", li);
  if (type === "contact" && li.dataset.list === "events") {
    const editor = contactEditor(false);
    body.replaceChildren(editor);
    fillContactEditor(editor, item);
  } else {
    const fields = type === "contact" ? HISTORY_CONTACT_FIELDS : EVENT_FIELDS[type];
    body.replaceChildren(el("div", { class: "grid" }, ...fields.map(([k, kind, l, req]) => field(k, kind, l, req))));
    for (const ctrl of $$("[data-key]", body)) writeControl(ctrl, item[ctrl.dataset.key]);
  }
  if (li.parentElement) renumber(li.parentElement);
}

function readCard(li) {
  const type = $('[data-key="type"]', li).value;
  const item = { type };
  const body = $(".event-body", li);
  if (type === "contact" && li.dataset.list === "events") return readContactEditor($(".contact-editor", body), item);
  for (const ctrl of $$("[data-key]", body)) {
    const v = readControl(ctrl);
    if (v !== undefined) item[ctrl.dataset.key] = v;
  }
  return item;
}

// Each card's controls get their full JSON path (events[2].contact.date), so errors find them.
function renumber(ul) {
  $$(":scope > li", ul).forEach((li, i) => {
    li.dataset.path = `${li.dataset.list}[${i}]`;
    $(".event-n", li).textContent = t("event_n", { n: i + 1 });
    $("button.remove", li).setAttribute("aria-label", t("remove_n", { n: i + 1 }));
    for (const ctrl of $$("[data-key]", li)) {
      const key = ctrl.dataset.key;
      ctrl.dataset.path = key === "type" ? `${li.dataset.path}.type` : `${li.dataset.path}.${key}`;
    }
  });
}

// ---- the two forms ------------------------------------------------------------------------------

function buildForms() {
  const editor = contactEditor(true);
  $("#contact-editor").replaceChildren(editor);
  for (const ctrl of $$("[data-key]", editor)) ctrl.dataset.path = ctrl.dataset.key;
}

function readContactRequest() {
  const req = readContactEditor($("#contact-editor .contact-editor"), {});
  const history = $$("#history-list > li").map(readCard);
  if (history.length) req.history = history;
  const ref = $("#patient-ref").value.trim();
  if (ref) req.patient = { ref };
  return req;
}

function fillContactForm(req) {
  clearErrors($("#contact-form"));
  fillContactEditor($("#contact-editor .contact-editor"), req);
  const ul = $("#history-list");
  ul.replaceChildren(...(req.history || []).map((h) => eventCard("history", h)));
  renumber(ul);
  $("#patient-ref").value = (req.patient && req.patient.ref) || "";
}

function readTimeline() {
  const tl = { events: $$("#events-list > li").map(readCard) };
  const ref = $("#journey-patient-ref").value.trim();
  if (ref) tl.patient = { ref };
  return tl;
}

function fillTimeline(tl) {
  clearErrors($("#journey-form"));
  const ul = $("#events-list");
  ul.replaceChildren(...(tl.events || []).map((e) => eventCard("events", e)));
  renumber(ul);
  $("#journey-patient-ref").value = (tl.patient && tl.patient.ref) || "";
}

// ---- talking to the API: every request goes through api() ---------------------------------------

// With access control on, the API wants a key: asked for when a 401 comes back (pages.js's
// apiFetch calls askKey), kept in sessionStorage (this tab only) and sent as `Authorization: Bearer`.
function askKey(wrong) {
  $("label[for=api-key]").textContent = t("api_key");
  $("#key-form button").textContent = t("api_key_use");
  $("#key-wrong").textContent = t("api_key_wrong");
  return promptKey(wrong);
}

async function guarded(call, box) {
  try { return await call(); } catch (exc) {
    box.replaceChildren(el("p", { text: t("network_error", { msg: exc.message }) }));
    return { ok: false, data: undefined };
  }
}

function clearErrors(root = document) {
  $$(".field-error", root).forEach((n) => n.remove());
  $$(".invalid", root).forEach((n) => { n.classList.remove("invalid"); n.removeAttribute("aria-invalid"); });
  $$(".general-errors", root).forEach((n) => n.replaceChildren());
}

// The control a JSON path names, or the closest enclosing one (an event's card).
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
    ctrl.setAttribute("aria-invalid", "true");
    const msg = el("div", { class: "field-error", "data-error-for": err.path, text: errorText(err, state.lang) });
    (ctrl.tagName === "LI" ? $(".event-head", ctrl) : ctrl.closest("label") || ctrl.parentElement).append(msg);
  }
  general.replaceChildren(el("p", { text: t("errors_summary", { n: errors.length }) }),
    ...unplaced.map((e) => el("div", { class: "field-error", "data-error-for": e.path, text: `${e.path}: ${errorText(e, state.lang)}` })));
}

// Only the answer to the latest question is shown: an earlier request that comes back late is
// dropped. The answer box is aria-busy while its question is out (screen readers wait; tests too).
const asked = { contact: 0, journey: 0 };

async function ask(kind, box, call) {
  const n = ++asked[kind];
  box.setAttribute("aria-busy", "true");
  try {
    const reply = await call();
    return n === asked[kind] ? reply : { ok: false, data: undefined };
  } finally {
    if (n === asked[kind]) box.removeAttribute("aria-busy");
  }
}

async function classifyContact() {
  const form = $("#contact-form");
  const request = readContactRequest();
  const { ok, data } = await ask("contact", $("#answer"),
    () => guarded(() => api("/v1/classify", request), $("#contact-general-errors")));
  if (data === undefined) return;
  if (!ok) {
    state.lastAnswer = null;
    showErrors(data.errors || [], form, $("#contact-general-errors"));
    $("#answer").replaceChildren(rejectionLine(state.current && state.current.expect, data.errors || []) || "");
    return;
  }
  clearErrors(form);
  state.lastAnswer = data;
  state.lastRequest = request;
  renderAnswer();
}

async function classifyJourney() {
  const form = $("#journey-form");
  const timeline = readTimeline();
  const { ok, data } = await ask("journey", $("#journey-answer"),
    () => guarded(() => api("/v1/classify/timeline", timeline), $("#journey-general-errors")));
  if (data === undefined) return;
  if (!ok) { state.lastJourney = null; $("#journey-answer").replaceChildren(); showErrors(data.errors || [], form, $("#journey-general-errors")); return; }
  clearErrors(form);
  state.lastJourney = { timeline, results: data.results, commitments: data.commitments };
  renderJourney();
}

// ---- one answer as a clinician reads it ------------------------------------------------------------

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

function factValue(k, v) {
  if (typeof v === "boolean") return v ? t("yes") : t("no");
  const list = { setting: "setting", pathway: "pathway", activity: "activity", contact_form: "form" }[k];
  return list && UI[`opt.${list}.${v}`] ? t(`opt.${list}.${v}`) : String(v);
}

// The sections of docs/definitions.md a rule's source cites ("docs/definitions.md §4.8, §6.3").
function definitionLinks(source) {
  const part = source.split("docs/definitions.md")[1] || "";
  const anchors = state.lib.definitions.anchors;
  return [...part.matchAll(/§(\d+(?:\.\d+)?)/g)].map((m) => m[1]).filter((n) => anchors[n])
    .map((n) => el("a", { href: `${state.lib.definitions.url}#${anchors[n]}`, class: "definition-link", target: "_blank", rel: "noopener", text: `§${n}` }));
}

const lowerFirst = (s) => s.charAt(0).toLowerCase() + s.slice(1);

// Why this rule and why the wait starts where it starts, in a sentence each, from the answer's facts.
function explanation(a, request) {
  const facts = Object.entries(a.facts).map(([k, v]) => `${lowerFirst(label(state.lib.facts[k]) || k)} – ${factValue(k, v)}`);
  const parts = [el("p", { class: "why-rule", text: t("why_rule", { id: a.rule.id, title: a.rule[`title_${state.lang}`], facts: facts.join("; ") }) })];
  const w = a.wait;
  if (w) {
    let text;
    const received = request && request.care_request && request.care_request.received_date;
    const decided = request && request.contact && request.contact.decision_date;
    if (!w.start_date) text = t("why_no_wait");
    else if (w.start_basis === "decision") {
      text = t("why_wait_decision", { date: longDate(w.start_date) }) + (received && received !== w.start_date ? t("why_wait_decision_not_request", { other: longDate(received) }) : "") + ".";
    } else {
      text = t("why_wait_request", { date: longDate(w.start_date) }) + (decided && decided !== w.start_date ? t("why_wait_request_not_decision", { other: longDate(decided) }) : "") + ".";
    }
    parts.push(el("p", { class: "why-wait", text }));
  }
  const links = definitionLinks(a.rule.source);
  if (links.length) parts.push(el("p", { class: "why-links" }, t("read_more"), " ", ...links.flatMap((l, i) => (i ? [", ", l] : [l]))));
  parts.push(el("p", { class: `ruleset-status status-${a.ruleset.status}`, text: t(a.ruleset.status === "provisional" ? "status_provisional" : "status_confirmed") }));
  return el("div", { class: "why" }, el("h4", { text: t("why_title") }), ...parts);
}

function answerCard(a, request) {
  const lang = state.lang;
  const card = el("div", { class: "card", id: "answer-card", "data-contact-type": a.contact_type, "data-rule": a.rule.id });
  card.append(el("h3", { class: "contact-type", text: a[`label_${lang}`] || a.label_sv }));
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
  card.append(explanation(a, request));
  card.append(el("p", { class: "rule" }, el("strong", { text: `${t("rule")} ${a.rule.id}: ` }), a.rule[`title_${lang}`]));
  card.append(el("p", { class: "source muted", text: `${t("source")}: ${a.rule.source}` }));
  const c = a.commitment;
  card.append(el("p", { class: "commitment" }, el("strong", { text: `${t("commitment")}: ` }),
    c ? t("commitment_text", { opened: c.opened, latest: c.latest_contact, ends: c.window_ends }) : t("no_commitment")));
  const facts = el("table", { class: "facts" });
  for (const [k, v] of Object.entries(a.facts)) {
    facts.append(el("tr", { "data-fact": k }, el("td", { text: label(state.lib.facts[k]) || k }), el("td", {}, typeof v === "boolean" ? yesNo(v) : factValue(k, v))));
  }
  card.append(el("h4", { text: t("facts_used") }), facts);
  if (a.warnings.length) {
    card.append(el("h4", { text: t("warnings") }),
      ...a.warnings.map((w) => el("div", { class: "warning", "data-code": w.code, text: lang === "sv" ? w.message_sv : w.message })));
  }
  card.append(el("p", { class: "muted", text: `${t("ruleset")}: ${a.ruleset.name} ${a.ruleset.version} (${t("status_word_" + a.ruleset.status)}, ${a.ruleset.sha256.slice(0, 12)})` }));
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
  $("#jump-answer").hidden = !a;  // the answer is below the form: one click away at once
  if (!a) { box.replaceChildren(); return; }
  const ex = state.current;
  box.replaceChildren(answerCard(a, state.lastRequest), ex && ex.request ? expectationLine(ex.expect, a) : "");
}

// ---- the journey: table and time line ---------------------------------------------------------------

const DAY = 86400000;
const toMs = (iso) => Date.UTC(+iso.slice(0, 4), +iso.slice(5, 7) - 1, +iso.slice(8, 10));
const toIso = (ms) => new Date(ms).toISOString().slice(0, 10);
function eventDate(e) { return e.type === "contact" ? e.contact && e.contact.date : e.date; }

const JOURNEY_COLUMNS = ["col_date", "col_id", "col_answer", "col_rule", "col_wait", "col_warnings"];

function renderJourney() {
  const j = state.lastJourney;
  const box = $("#journey-answer");
  if (!j) { box.replaceChildren(); return; }
  const contacts = j.timeline.events.filter((e) => e.type === "contact");
  const expected = state.current && Array.isArray(state.current.expect) ? state.current.expect : null;
  const table = el("table", { class: "results", id: "journey-results" },
    el("thead", {}, el("tr", {}, ...JOURNEY_COLUMNS.map((k) => el("th", { scope: "col", text: t(k) })))));
  const tbody = el("tbody");
  j.results.forEach((r, i) => {
    const c = contacts[i].contact;
    const exp = expected && expected[i];
    const mismatch = exp && (exp.contact_type !== r.contact_type || (exp.rule && exp.rule !== r.rule.id));
    const expText = exp ? (mismatch ? ` ✗ ${t("expected")}: ${label(state.lib.contact_types[exp.contact_type])} ${exp.rule || ""}` : " ✓") : "";
    tbody.append(el("tr", { "data-contact-type": r.contact_type, "data-rule": r.rule.id, class: mismatch ? "mismatch" : null },
      el("td", { text: c.date }), el("td", { text: r.contact_id }),
      el("td", { text: `${r["label_" + state.lang]}${expText}` }),
      el("td", {}, `${r.rule.id} – ${r.rule["title_" + state.lang]} `, ...definitionLinks(r.rule.source).slice(-1)),
      el("td", { class: "wait-days", text: r.wait && r.wait.days !== null ? `${r.wait.days} ${t("days")} (${r.wait.within_limit ? "≤" : ">"} ${r.wait.limit_days})` : "–" }),
      el("td", { text: r.warnings.map((w) => (state.lang === "sv" ? w.message_sv : w.message)).join(" ") })));
  });
  // each cell names its column, so a narrow screen can show the rows as cards (workbench.css)
  for (const tr of tbody.rows) [...tr.cells].forEach((td, k) => { td.dataset.label = t(JOURNEY_COLUMNS[k]); });
  table.append(tbody);
  const chartBox = el("div", { class: "chart-box", tabindex: "0" });
  box.replaceChildren(el("h3", { text: t("journey_table") }), el("div", { class: "table-box", tabindex: "0" }, table), chartBox);
  // drawn to the width there is (a phone too); below 320 px the box scrolls sideways
  chartBox.append(journeyChart(j.timeline.events, j.results, j.commitments || [], Math.max(320, chartBox.clientWidth || 0)));
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, text) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  if (text !== undefined) n.textContent = text;
  return n;
}

const measure = (() => {
  const ctx = document.createElement("canvas").getContext("2d");
  return (text) => { ctx.font = "11px system-ui, sans-serif"; return Math.ceil(ctx.measureText(text).width) + 2; };
})();

// Greedy rows for labels: each label goes on the first row where it does not touch the one before.
function rowPlacer() {
  const ends = [];
  return (x0, width) => {
    let row = ends.findIndex((end) => end + 6 < x0);
    if (row < 0) { row = ends.length; ends.push(0); }
    ends[row] = x0 + width;
    return row;
  };
}

function journeyChart(events, results, commitments, W) {
  if (!events.length) return "";
  const contacts = events.filter((e) => e.type === "contact");
  const waits = results.map((r, i) => ({ r, date: contacts[i].contact.date })).filter((x) => x.r.wait && x.r.wait.start_date);
  // the care commitments as the server drew them: where each opens and ends (closed by care_closed or not)
  const windows = commitments.map((c) => ({ start: c.opened, end: c.ends, closed: c.closed }));
  const dates = events.map(eventDate).concat(waits.map((x) => x.r.wait.start_date), windows.map((w) => w.end));
  const lo = Math.min(...dates.map(toMs)) - 10 * DAY, hi = Math.max(...dates.map(toMs)) + 10 * DAY;
  const left = Math.max(...["lane_events", "lane_window", "lane_waits"].map((k) => measure(t(k)))) + 12;
  const right = 20, laneH = 22, rowH = 15;
  const x = (iso) => left + ((toMs(iso) - lo) / (hi - lo)) * (W - left - right);
  // event labels above the commitment lane, on as many rows as they need
  const place = rowPlacer();
  let ci = 0;
  const labels = events.map((e) => {
    const r = e.type === "contact" ? results[ci++] : null;
    const text = r ? `${r["label_" + state.lang]} (${r.rule.id})` : t(`opt.event.${e.type}`);
    const cx = x(eventDate(e)), width = measure(text);
    const x0 = Math.min(cx + 2, W - width);
    return { e, r, cx, x0, text, row: place(x0, width) };
  });
  const eventRows = Math.max(1, ...labels.map((l) => l.row + 1));
  const rowsTop = 16, windowY = rowsTop + eventRows * rowH + 8;
  // the windows' end labels below the lane
  const placeEnd = rowPlacer();
  const ends = windows.map((w) => {
    const text = w.closed ? `${t("closed_at")} ${w.end}` : `${t("limit12")} ${w.end}`;
    const width = measure(text), x0 = Math.min(x(w.end) + 3, W - width);
    return { w, text, x0, row: placeEnd(x0, width) };
  });
  const endRows = ends.length ? Math.max(...ends.map((e) => e.row + 1)) : 0;
  const waitsY = windowY + 22 + endRows * rowH + 6;
  const axisY = waitsY + Math.max(1, waits.length) * laneH + 8;
  const legendY = axisY + 34;
  // the legend, wrapped to the width
  const legendItems = [["bar-ok", "legend_ok"], ["bar-late", "legend_late"], ["bar-excluded", "legend_excluded"], ["limit30", "legend_limit30"],
    ["window", "legend_window"], ["limit12", "legend_limit12"], ["dot-mp", "legend_mp"], ["dot-other", "legend_other"], ["event-mark", "legend_event"]];
  let lx = 4, ly = legendY;
  const legend = legendItems.map(([cls, key]) => {
    const text = t(key, { n: state.lib.wait.limit_days });
    const width = 18 + measure(text) + 14;
    if (lx + width > W) { lx = 4; ly += 18; }
    const item = { cls, text, lx, ly };
    lx += width;
    return item;
  });
  const H = ly + 14;
  const root = svg("svg", { class: "journey", id: "journey-chart", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "journey-chart-title" });
  root.append(svg("title", { id: "journey-chart-title" }, t("chart_title")));
  root.append(svg("text", { x: 4, y: rowsTop, class: "lane-label" }, t("lane_events")));
  root.append(svg("text", { x: 4, y: windowY + 12, class: "lane-label" }, t("lane_window")));
  root.append(svg("text", { x: 4, y: waitsY + 10, class: "lane-label" }, t("lane_waits")));
  // axis with month ticks, labelled often enough but never closer than 70 px
  root.append(svg("line", { x1: left, x2: W - right, y1: axisY, y2: axisY, class: "axis" }));
  const first = new Date(lo);
  const monthPx = (W - left - right) / ((hi - lo) / (30.44 * DAY));
  const step = [1, 2, 3, 6, 12].find((s) => s * monthPx >= 70) || 12;
  for (let m = Date.UTC(first.getUTCFullYear(), first.getUTCMonth() + 1, 1); m < hi;) {
    const d = new Date(m), iso = toIso(m);
    root.append(svg("line", { x1: x(iso), x2: x(iso), y1: axisY, y2: axisY + 4, class: "axis" }));
    if (d.getUTCMonth() % step === 0 && x(iso) - 20 > left - 10 && x(iso) + 24 < W) root.append(svg("text", { x: x(iso) - 20, y: axisY + 16, class: "tick" }, iso.slice(0, 7)));
    m = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  }
  for (const { w, text, x0, row } of ends) {
    root.append(svg("rect", { x: x(w.start), y: windowY, width: Math.max(1, x(w.end) - x(w.start)), height: 16, class: "window", "data-start": w.start, "data-end": w.end }));
    if (!w.closed) root.append(svg("line", { x1: x(w.end), x2: x(w.end), y1: windowY - 4, y2: axisY, class: "limit12", "data-limit": "12m" }));
    root.append(svg("text", { x: x0, y: windowY + 28 + row * rowH, class: "end-label" }, text));
  }
  for (const { e, r, cx, x0, text, row } of labels) {
    if (r) root.append(svg("circle", { cx, cy: windowY + 8, r: 5, class: r.measurement_point ? "dot-mp" : "dot-other", "data-contact-type": r.contact_type }));
    else root.append(svg("rect", { x: cx - 4, y: windowY + 4, width: 8, height: 8, class: "event-mark", transform: `rotate(45 ${cx} ${windowY + 8})` }));
    const ly2 = rowsTop + row * rowH;
    root.append(svg("line", { x1: cx, x2: cx, y1: ly2 + 3, y2: windowY + 3, class: "leader" }));
    root.append(svg("text", { x: x0, y: ly2, class: "event-label", "data-type": e.type }, text));
  }
  // waits as bars from their start to the contact, with the limit; the label beside the bar where it fits
  waits.forEach(({ r, date }, k) => {
    const w = r.wait, y = waitsY + k * laneH;
    const cls = w.exclusion && !w.in_denominator ? "bar-excluded" : w.within_limit ? "bar-ok" : "bar-late";
    const bar = svg("rect", { x: x(w.start_date), y, width: Math.max(2, x(date) - x(w.start_date)), height: 12, class: `wait-bar ${cls}`, "data-days": w.days });
    bar.append(svg("title", {}, `${r.contact_id}: ${w.start_date} → ${date}, ${w.days} ${t("days")}`));
    root.append(bar);
    const lim = toIso(toMs(w.start_date) + w.limit_days * DAY);
    root.append(svg("line", { x1: x(lim), x2: x(lim), y1: y - 3, y2: y + 15, class: "limit30", "data-limit": "30d" }));
    const text = `${w.days} ${t("days")}${w.exclusion ? ` ${w.exclusion}` : ""} · ${t("limit30", { n: w.limit_days })}`;
    const width = measure(text), after = Math.max(x(date), x(lim)) + 4;
    const tx = after + width <= W ? after : Math.max(left, Math.min(x(w.start_date), x(lim)) - 4 - width);
    root.append(svg("text", { x: tx, y: y + 10, class: "wait-label" }, text));
  });
  for (const { cls, text, lx: ix, ly: iy } of legend) {
    const g = svg("g", { class: "legend-item" });
    if (cls.startsWith("limit")) g.append(svg("line", { x1: ix + 6, x2: ix + 6, y1: iy - 9, y2: iy + 3, class: cls }));
    else if (cls.startsWith("dot")) g.append(svg("circle", { cx: ix + 6, cy: iy - 3, r: 5, class: cls }));
    else g.append(svg("rect", { x: ix, y: iy - 9, width: 12, height: 10, class: cls }));
    g.append(svg("text", { x: ix + 18, y: iy }, text));
    root.append(g);
  }
  return root;
}

// ---- the library, cases, links and files ---------------------------------------------------------------

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

function ruleNames(ids) {
  return ids.map((id) => (state.lib.rules[id] ? `${id} (${state.lib.rules[id]["title_" + state.lang]})` : id)).join(", ");
}

function renderStory() {
  const ex = state.current;
  $("#story-box").hidden = !ex;
  if (!ex) return;
  $("#story-title").textContent = ex["title_" + state.lang] || ex.title_sv;
  $("#story-text").textContent = (ex.story || "").trim();
  const parts = [ex.name ? `${ex.name}.yaml` : t("from_file", { name: ex.file })];
  if (ex.fires && ex.fires.length) parts.push(t("shows_rule", { rules: ruleNames(ex.fires) }));
  if (ex.misses && ex.misses.length) parts.push(t("near_rule", { rules: ruleNames(ex.misses) }));
  $("#story-meta").textContent = parts.join(" · ");
}

// Open a case (a library example, a saved file or a shared link) in its view and run it.
async function openCase(ex) {
  state.current = ex;
  $$("button.example").forEach((b) => b.classList.toggle("current", b.dataset.example === ex.name));
  renderStory();
  $("#example-title").value = ex.title_sv || "";
  $("#example-story").value = (ex.story || "").trim();
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

// On a narrow screen the library sits folded above the form (workbench.css): reachable at once,
// and folded again once an example is chosen, so its answer follows right below.
const NARROW = window.matchMedia("(max-width: 900px)");

function openExample(name) {
  if (NARROW.matches) $("#library-box").open = false;
  return openCase(state.lib.examples.find((e) => e.name === name));
}

async function openFile(file) {
  const box = $("#save-errors");
  const { ok, data } = await guarded(async () => api("/workbench/example/read", { yaml: await file.text() }), box);
  if (data === undefined) return;
  if (!ok) { showErrors(data.errors || [], $("#save-box"), box); return; }
  await openCase({ ...data, file: file.name, title_sv: data.title, title_en: data.title, fires: data.fires || [], misses: data.misses || [] });
}

// A shared link holds the case itself, base64url JSON in the fragment, which never reaches a server.
function encodeCase(obj) {
  const bytes = new TextEncoder().encode(JSON.stringify(obj));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeCase(text) {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
}

function shareLink() {
  const content = state.view === "contact" ? { request: readContactRequest() } : { timeline: readTimeline() };
  const title = $("#example-title").value.trim(), story = $("#example-story").value.trim();
  if (title) content.title = title;
  if (story) content.story = story;
  const url = `${location.origin}${location.pathname}#${state.view === "contact" ? "fall" : "resa"}=${encodeCase(content)}`;
  history.replaceState(null, "", url);
  const out = $(`#share-${state.view}`);
  out.hidden = false;
  $("input", out).value = url;
  $("input", out).select();
  if (navigator.clipboard) navigator.clipboard.writeText(url).catch(() => {});
}

async function openFromHash() {
  const m = /^#(fall|resa)=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (!m) return;
  let content;
  try { content = decodeCase(m[2]); } catch { return; }
  const ex = { title_sv: content.title || "", title_en: content.title || "", story: content.story || "", file: null, fires: [], misses: [] };
  if (m[1] === "fall" && content.request) await openCase({ ...ex, request: content.request });
  else if (m[1] === "resa" && content.timeline) await openCase({ ...ex, timeline: content.timeline });
  if (!content.title && !content.story) { state.current = null; renderStory(); }
}

// ---- views, language, reset -------------------------------------------------------------------------------

function showView(view) {
  state.view = view;
  $("#view-contact").hidden = view !== "contact";
  $("#view-journey").hidden = view !== "journey";
  $$(".tab").forEach((b) => { b.classList.toggle("active", b.dataset.view === view); b.setAttribute("aria-pressed", String(b.dataset.view === view)); });
}

function applyLanguage() {
  document.documentElement.lang = state.lang;
  for (const n of $$("[data-i18n]")) n.textContent = t(n.dataset.i18n);
  $("#lang").textContent = state.lang === "sv" ? "English" : "Svenska";
  $("#lang").lang = state.lang === "sv" ? "en" : "sv";
  $("#library-filter").placeholder = t("filter");
  $("#library-filter").setAttribute("aria-label", t("filter"));
  // rebuild the controls' labels and options, keeping what was entered
  const req = readContactRequest(), tl = readTimeline();
  buildForms();
  fillContactForm(req);
  fillTimeline(tl);
  renderLibrary();
  if (state.current) $$("button.example").forEach((b) => b.classList.toggle("current", b.dataset.example === state.current.name));
  renderStory();
  renderAnswer();
  renderJourney();
}

// Töm: the page as a fresh load gives it (the chosen language stays).
function resetPage() {
  state.current = null; state.lastAnswer = null; state.lastRequest = null; state.lastJourney = null;
  history.replaceState(null, "", location.pathname);
  fillContactForm({});
  fillTimeline({});
  clearErrors();
  $("#example-title").value = "";
  $("#example-story").value = "";
  $("#library-filter").value = "";
  $$(".share-out").forEach((n) => { n.hidden = true; $("input", n).value = ""; });
  $$("button.example.current").forEach((b) => b.classList.remove("current"));
  filterLibrary();
  renderStory();
  renderAnswer();
  renderJourney();
}

async function download() {
  const body = { title: $("#example-title").value.trim(), story: $("#example-story").value };
  if (state.view === "contact") body.request = readContactRequest(); else body.timeline = readTimeline();
  const { ok, data, res } = await guarded(() => api("/workbench/example", body), $("#save-errors"));
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
  const saved = localStorage.getItem(LANG_KEY);
  if (saved === "sv" || saved === "en") state.lang = saved;
  askForKey = askKey;
  if (NARROW.matches) $("#library-box").open = false;
  state.lib = await library();
  $("#ruleset-id").textContent = `${state.lib.ruleset.name} ${state.lib.ruleset.version}`;
  buildForms();
  applyLanguage();
  showView("contact");
  $("#contact-form").addEventListener("submit", (ev) => { ev.preventDefault(); classifyContact(); });
  $("#journey-form").addEventListener("submit", (ev) => { ev.preventDefault(); classifyJourney(); });
  $("#add-history").addEventListener("click", () => { const ul = $("#history-list"); ul.append(eventCard("history", null)); renumber(ul); });
  $("#add-event").addEventListener("click", () => { const ul = $("#events-list"); ul.append(eventCard("events", null)); renumber(ul); });
  $$(".clear").forEach((b) => b.addEventListener("click", resetPage));
  $$(".share").forEach((b) => b.addEventListener("click", shareLink));
  $$(".print").forEach((b) => b.addEventListener("click", () => window.print()));
  $$(".open-file").forEach((inp) => inp.addEventListener("change", () => { if (inp.files[0]) openFile(inp.files[0]).finally(() => { inp.value = ""; }); }));
  $$(".tab").forEach((b) => b.addEventListener("click", () => showView(b.dataset.view)));
  $("#lang").addEventListener("click", () => { state.lang = state.lang === "sv" ? "en" : "sv"; localStorage.setItem(LANG_KEY, state.lang); applyLanguage(); });
  $("#download").addEventListener("click", download);
  $("#library-filter").addEventListener("input", filterLibrary);
  window.addEventListener("hashchange", openFromHash);
  await openFromHash();
  document.body.dataset.ready = "true";
}

main();
