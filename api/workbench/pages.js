// Shared by the workbench's pages (index.html, month.html, impact.html, national.html), loaded before each page's own
// script: the DOM helpers, the API calls with the key the workbench asked for (kept in this tab's
// sessionStorage), the vocabulary from the server (GET /workbench/library: labels of contact types,
// exclusions, checklist items and findings, and the values each select offers) and a few number formats.
// No label of a rule table is written here: the server sends them.
"use strict";

const KEY_STORE = "bup-api-key";
// A page that can ask for a key (the workbench) sets this to a function (wrongKey) -> Promise<key | "">.
let askForKey = null;
let keyAsked = null;  // the question being asked, while it is

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// el("p", {class: "muted", text: "…"}, child, "text", …): attributes, then children (nodes or strings).
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== "") node.append(c);
  return node;
}

// fetch with the key; a 401 asks for one (where the page can) and tries again.
async function apiFetch(url, init = {}) {
  for (;;) {
    const key = sessionStorage.getItem(KEY_STORE);
    const headers = { ...(init.headers || {}), ...(key ? { Authorization: `Bearer ${key}` } : {}) };
    const res = await fetch(url, { ...init, headers });
    if (res.status !== 401 || !askForKey) return res;
    const now = sessionStorage.getItem(KEY_STORE);
    if (now !== null && now !== key) continue;  // a call made at the same time was given a key meanwhile: use it
    sessionStorage.removeItem(KEY_STORE);
    // calls made at the same time (a page's several requests) share the one question
    keyAsked ??= Promise.resolve(askForKey(key !== null)).finally(() => { keyAsked = null; });
    const entered = await keyAsked;
    if (!entered) return res;
    sessionStorage.setItem(KEY_STORE, entered);
  }
}

// GET (no body) or POST a JSON body; the answer as {ok, status, data (JSON or text), res}.
async function api(url, body) {
  const init = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const res = await apiFetch(url, init);
  const ctype = res.headers.get("content-type") || "";
  const data = ctype.includes("json") ? await res.json() : await res.text();
  return { ok: res.ok, status: res.status, data, res };
}

// The vocabulary, fetched once. Without the key it needs (access control on, no key given yet)
// the pages show the codes themselves until a later call succeeds.
let libraryPromise = null;
function library() {
  libraryPromise ??= api("/workbench/library").then((r) => {
    if (r.ok) return r.data;
    libraryPromise = null;
    return { contact_types: {}, exclusions: {}, findings: {}, options: {}, checklist: [] };
  });
  return libraryPromise;
}

// A contact type's (or an area's: areas are contact types) label from the rule set, in the language given.
function typeLabel(lib, key, lang = "sv") {
  const entry = lib.contact_types[key];
  return entry ? entry["label_" + lang] || entry.label_sv : key;
}

// An error item in the page's language (the API sends Swedish as message_sv).
function errorText(err, lang = "sv") { return lang === "sv" && err.message_sv ? err.message_sv : err.message; }

// A refused request on the month and impact pages: why (the key lacks the role: `noRole`), or every
// problem with its path, in Swedish.
function failure(status, answer, noRole, summary) {
  if (status === 401 || status === 403) return el("p", { class: "general-errors error", role: "alert", text: noRole });
  const errors = (answer && answer.errors) || [];
  return el("div", { class: "general-errors error", role: "alert" },
    el("p", { text: `${summary}: ${errors.length} fel (${status}).` }),
    el("ul", {}, ...errors.map((e) => el("li", { class: "field-error", "data-error-for": e.path, text: `${e.path}: ${errorText(e)}` }))));
}

// A results table in a box that scrolls sideways on its own; on a narrow screen each row reads as a card,
// every value under its column's name (data-label). `attrs` go on the table (an id, a data- attribute).
function table(caption, head, rows, attrs) {
  return el("div", { class: "table-box", tabindex: "0" }, el("table", { class: "results", ...(attrs || {}) },
    el("caption", { class: "muted", text: caption }),
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c, k) => el("td", { text: c, "data-label": head[k] })))))));
}

// A page's key form (#key-form with #api-key and #key-wrong): shown when the API answers 401, resolves with
// the key typed (the workbench and the national page; pages.js's apiFetch keeps it for this tab).
function promptKey(wrong) {
  const form = $("#key-form"), input = $("#api-key");
  $("#key-wrong").hidden = !wrong;
  input.value = "";
  form.hidden = false;
  input.focus();
  return new Promise((resolve) => {
    form.onsubmit = (ev) => { ev.preventDefault(); form.hidden = true; resolve(input.value.trim()); };
  });
}

function pct(v) { return v === null || v === undefined ? "–" : v.toFixed(1).replace(".", ",") + " %"; }
function dash(v) { return v === null || v === undefined ? "–" : String(v); }
