// Message trace: search by sender, host, recipient, time range, verdict, action and pool; paged, newest
// first; a message's detail with its recipients and the servers' replies, and the rules it hit.
import { button, cell, describe, load, whenNs } from "./common.js";

const form = document.getElementById("trace-search");
const status = document.getElementById("trace-status");
const rows = document.getElementById("trace-rows");
const more = document.getElementById("trace-more");
const detail = document.getElementById("trace-detail");
let next = 0;

function query(before) {
  const q = new URLSearchParams({ limit: "50" });
  for (const name of ["sender", "host", "recipient", "verdict", "action", "pool"]) {
    if (form.elements[name].value) {
      q.set(name, form.elements[name].value);
    }
  }
  for (const name of ["since", "until"]) {
    if (form.elements[name].value) {
      q.set(name, String(Math.floor(Date.parse(form.elements[name].value) / 1000)));
    }
  }
  if (before) {
    q.set("before_id", String(before));
  }
  return `/api/v1/trace?${q}`;
}

function showDetail(m) {
  detail.hidden = false;
  describe(detail.querySelector("dl"), [
    ["Time", whenNs(m.unix_ns)], ["Host", m.host], ["Sender", m.sender], ["User", m.user],
    ["Subject", m.subject],
    ["Server", `${m.server}:${m.server_port}`], ["Pool", m.pool],
    ["Egress", m.egress ? `${m.egress}:${m.egress_port}` : ""], ["Verdict", m.verdict],
    ["Score", m.score], ["Action", m.action], ["Gateway reply", m.gateway_reply],
    ["Outcome", m.outcome], ["Server reply", `${m.remote_reply ?? ""} ${m.remote_enhanced ?? ""}`],
    ["Bytes", m.bytes],
  ]);
  const recipients = document.getElementById("trace-recipients");
  recipients.replaceChildren();
  for (const r of m.recipient_replies || []) {
    const row = document.createElement("tr");
    cell(row, r.address);
    cell(row, r.reply);
    cell(row, r.enhanced);
    recipients.append(row);
  }
  // The rules it hit, with the descriptions the active rule set gives them (text: a rule
  // file's description is the operator's, yet never markup).
  const rules = document.getElementById("trace-rules");
  rules.replaceChildren();
  for (const r of m.rules || []) {
    const row = document.createElement("tr");
    cell(row, r.name);
    cell(row, r.score);
    cell(row, r.in_active_rules ? r.description : "(no longer in the active rule set)");
    rules.append(row);
  }
  const kept = (m.rules || []).length;
  document.getElementById("trace-rules-note").textContent = m.rules_hit > kept
    ? `${m.rules_hit} rules hit; the trace keeps the first ${kept}.`
    : kept === 0 ? "No rule hit." : "";
}

async function search(before) {
  const data = await load(query(before), status, "the trace");
  if (!data) {
    return;
  }
  if (!before) {
    rows.replaceChildren();
    detail.hidden = true;
  }
  for (const m of data.messages) {
    const row = document.createElement("tr");
    cell(row, whenNs(m.unix_ns));
    cell(row, m.host);
    cell(row, m.sender);
    cell(row, m.subject);
    cell(row, m.recipients);
    cell(row, m.pool);
    cell(row, m.egress);
    cell(row, m.verdict);
    cell(row, m.action);
    cell(row, m.outcome);
    cell(row, "").append(button("Detail", () => showDetail(m)));
    rows.append(row);
  }
  next = data.next_before_id || 0;
  more.hidden = next === 0;
  status.textContent = `${rows.children.length} messages${next ? " (more below)" : ""}.`;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  search(0);
});
more.addEventListener("click", () => search(next));

export function show() {
  return search(0);
}
