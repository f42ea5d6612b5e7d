// Alerts: the newest, filtered by kind and by time, open ones only if asked; acknowledge.
import { api, button, cell, load, whenNs } from "./common.js";

const status = document.getElementById("alerts-status");
const rows = document.getElementById("alerts-rows");
const filter = document.getElementById("alerts-filter");

export async function show(note = "") {
  const open = filter.elements.open.checked ? "&open=1" : "";
  const data = await load(`/api/v1/alerts?limit=500${open}`, status, "the alerts");
  if (!data) {
    return;
  }
  const kind = filter.elements.kind.value;
  const since = filter.elements.since.value ? Date.parse(filter.elements.since.value) * 1e6 : 0;
  const shown = data.alerts.filter((a) => (!kind || a.kind === kind) && a.unix_ns >= since);
  const kinds = [...new Set(data.alerts.map((a) => a.kind))].sort();
  const select = filter.elements.kind;
  select.replaceChildren(new Option("every kind", ""), ...kinds.map((k) => new Option(k, k)));
  select.value = kinds.includes(kind) ? kind : "";
  rows.replaceChildren();
  for (const a of shown) {
    const row = document.createElement("tr");
    cell(row, whenNs(a.unix_ns));
    cell(row, a.kind);
    cell(row, a.severity);
    cell(row, a.message);
    cell(row, a.repeats > 1 ? `${a.repeats}×` : "");
    if (a.acknowledged_unix_ns) {
      cell(row, `acknowledged ${whenNs(a.acknowledged_unix_ns)} ${a.acknowledged_note}`);
    } else {
      cell(row, "").append(button("Acknowledge", async () => {
        let done;
        try {
          await api("POST", "/api/v1/alerts/acknowledge", { id: a.id, note: "from the console" });
          done = `Acknowledged alert ${a.id}.`;
        } catch (e) {
          done = `Not acknowledged: ${e.message}.`;
        }
        show(done);
      }));
    }
    rows.append(row);
  }
  const count = `${shown.length} of ${data.alerts.length} alerts shown.`;
  status.textContent = note ? `${note} ${count}` : count;
}

filter.addEventListener("change", () => show());
