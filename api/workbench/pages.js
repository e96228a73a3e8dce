// Shared by the workbench's small pages (month.html, impact.html): their API calls carry the key
// the workbench asked for (kept in this tab's sessionStorage, as workbench.js keeps it), and
// their few DOM and number helpers live here once.
const KEY_STORE = "bup-api-key";
const AREA = {first_visit: "Första besök", investigation: "Utredning", treatment: "Behandling"};
const TYPE = {...AREA, return_visit: "Återbesök", acute: "Akut kontakt", outside_model: "Utanför modellen"};

function api(path, init) {
  const key = sessionStorage.getItem(KEY_STORE);
  const headers = {...((init || {}).headers || {}), ...(key ? {Authorization: `Bearer ${key}`} : {})};
  return fetch(path, {...(init || {}), headers});
}
function el(tag, text, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = text;
  Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
  return e;
}
function pct(v) { return v === null || v === undefined ? "–" : v.toFixed(1).replace(".", ",") + " %"; }
function dash(v) { return v === null || v === undefined ? "–" : String(v); }
