// Restricted senders: every restriction in force with its cause; release with a reason; the
// audit trail of every restriction and release.
import { api, button, cell, load, when, whenNs } from "./common.js";

const status = document.getElementById("restrictions-status");
const rows = document.getElementById("restrictions-rows");
const history = document.getElementById("history-rows");
const form = document.getElementById("release");
let releasing = "";

// Lists the restrictions in force; `note` (what was just done) leads the status line.
export async function show(note = "") {
  const data = await load("/api/v1/restrictions", status, "the restrictions");
  if (!data) {
    return;
  }
  rows.replaceChildren();
  for (const r of data.restrictions) {
    const row = document.createElement("tr");
    cell(row, r.key);
    cell(row, r.kind);
    cell(row, r.limit);
    cell(row, r.action);
    cell(row, whenNs(r.applied_unix_ns));
    cell(row, r.until_unix_s ? when(r.until_unix_s) : "until released");
    cell(row, "").append(button("Release", () => {
      releasing = r.key;
      document.getElementById("release-key").textContent = r.key;
      form.hidden = false;
      form.elements.reason.focus();
    }));
    rows.append(row);
  }
  const trail = await load("/api/v1/restrictions/history?limit=100", status, "the audit trail");
  history.replaceChildren();
  for (const r of trail ? trail.restrictions : []) {
    const row = document.createElement("tr");
    cell(row, r.key);
    cell(row, r.limit);
    cell(row, r.action);
    cell(row, whenNs(r.applied_unix_ns));
    cell(row, r.until_unix_s ? when(r.until_unix_s) : "until released");
    cell(row, r.released_unix_ns ? whenNs(r.released_unix_ns) : "");
    cell(row, r.release_reason);
    history.append(row);
  }
  const count = data.restrictions.length === 0 ? "No sender is restricted."
    : `${data.restrictions.length} restricted.`;
  status.textContent = note ? `${note} ${count}` : count;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  let note;
  try {
    await api("POST", "/api/v1/restrictions/release",
      { key: releasing, reason: form.elements.reason.value });
    note = `Released ${releasing}.`;
  } catch (e) {
    note = `Not released: ${e.message}.`;
  }
  form.hidden = true;
  form.reset();
  show(note);
});
document.getElementById("release-cancel").addEventListener("click", () => {
  form.hidden = true;
  form.reset();
});
