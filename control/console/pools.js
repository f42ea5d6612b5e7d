// Pools and blocklists: each pool with its states and bound prefixes; each address with its
// state, what each blocklist zone last answered (with the code), who used it most before a
// listing, drained and undrained here.
import { api, button, cell, load, when } from "./common.js";

const status = document.getElementById("pools-status");
const poolRows = document.getElementById("pools-rows");
const addressRows = document.getElementById("addresses-rows");

// "bl.example: listed 127.0.0.4 (checked 2026-12-06T05:10:00Z)".
function zoneText(z) {
  const parts = [`${z.zone}: ${z.result}`];
  if (z.code) {
    parts.push(z.code);
  }
  if (!z.trusted) {
    parts.push("(zone not trusted)");
  }
  if (z.error) {
    parts.push("(last query failed)");
  }
  if (z.checked_unix_s) {
    parts.push(`(checked ${when(z.checked_unix_s)})`);
  }
  return parts.join(" ");
}

// "a@example.org (10.1.0.5): 40 messages, 38 spam".
function userText(u) {
  return `${u.sender || "<>"} (${u.host}): ${u.messages} messages, ${u.spam} spam`;
}

export async function show(note = "") {
  const data = await load("/api/v1/pools", status, "the pools");
  if (!data) {
    return;
  }
  poolRows.replaceChildren();
  for (const p of data.pools) {
    const row = document.createElement("tr");
    cell(row, p.name);
    cell(row, p.states.active);
    cell(row, p.states.listed);
    cell(row, p.states.draining);
    cell(row, p.bound.join(" "));
    poolRows.append(row);
  }
  addressRows.replaceChildren();
  for (const a of data.addresses) {
    const row = document.createElement("tr");
    row.dataset.address = a.address;
    cell(row, a.address);
    cell(row, a.pool);
    cell(row, a.state);
    const zones = a.blocklists?.zones ?? [];
    cell(row, zones.map(zoneText).join("; "));
    cell(row, (a.blocklists?.used_by ?? []).map(userText).join("; "));
    const next = a.state === "draining" ? "active" : "draining";
    cell(row, "").append(button(next === "draining" ? "Drain" : "Undrain", async () => {
      let done;
      try {
        await api("POST", "/api/v1/pools/state", { address: a.address, state: next });
        done = `${a.address} is ${next} now.`;
      } catch (e) {
        done = `Not changed: ${e.message}.`;
      }
      show(done);
    }));
    addressRows.append(row);
  }
  status.textContent = note;
}
