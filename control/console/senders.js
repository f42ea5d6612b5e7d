// Sender look-up: one key (an address, a host, user:NAME or org:NAME) with its state, its
// restriction, each limit of its kind against what its window holds, and its counters per
// window, straight from the gateway's sender table.
import { cell, describe, load, when } from "./common.js";

const form = document.getElementById("senders-search");
const status = document.getElementById("senders-status");
const result = document.getElementById("senders-result");
const facts = document.getElementById("senders-facts");
const limitRows = document.getElementById("senders-limits");
const counterRows = document.getElementById("senders-counters");

async function look(key) {
  result.hidden = true;
  status.textContent = "";
  const data = await load(`/api/v1/senders?key=${encodeURIComponent(key)}`, status, key);
  if (!data) {
    return;
  }
  const restriction = data.restriction
    ? `${data.restriction.limit}${data.restriction.until_unix_s ? `, until ${when(data.restriction.until_unix_s)}` : ", until released"}`
    : "none";
  describe(facts, [["Key", data.key], ["State", data.state], ["Restriction", restriction],
    ["Steered to high risk until", when(data.steered_until_unix_s) || "not steered"]]);
  limitRows.replaceChildren();
  for (const l of data.limits) {
    const row = document.createElement("tr");
    cell(row, l.limit);
    cell(row, l.observed);
    cell(row, l.max === 0 ? "off" : l.max);
    cell(row, l.max === 0 ? "" : `${Math.round((100 * l.observed) / l.max)} %`);
    cell(row, l.action);
    limitRows.append(row);
  }
  counterRows.replaceChildren();
  for (const [name, w] of Object.entries(data.counters)) {
    const row = document.createElement("tr");
    cell(row, name);
    cell(row, w.minute);
    cell(row, w.hour);
    cell(row, w.day);
    counterRows.append(row);
  }
  result.hidden = false;
}

export function show() {
  form.elements.key.focus();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  look(form.elements.key.value.trim());
});
