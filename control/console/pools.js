// Pools and blocklists: each pool with its states and bound prefixes; each address with its
// state, drained and undrained here.
import { api, button, cell, load } from "./common.js";

const status = document.getElementById("pools-status");
const poolRows = document.getElementById("pools-rows");
const addressRows = document.getElementById("addresses-rows");

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
