// Rules: the active rule set, upload of a new one (compiled first: refused with the compiler's
// errors as "file:line: rule NAME: ..." and the active version kept), activation of a stored
// version, and roll back to the one before.
import { api, button, cell, describe, load, whenNs } from "./common.js";

const status = document.getElementById("rules-status");
const active = document.getElementById("rules-active");
const form = document.getElementById("rules-upload");
const errors = document.getElementById("rules-errors");
const rows = document.getElementById("rules-rows");
const rollback = document.getElementById("rules-rollback");

function showErrors(list) {
  const ul = errors.querySelector("ul");
  ul.replaceChildren(...list.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;  // the rule file's text is the operator's, but still only text
    return li;
  }));
  errors.hidden = list.length === 0;
}

// A change's outcome into the status line (and the compiler's errors when it was refused).
async function change(what, request) {
  let done;
  try {
    const r = await request();
    done = `${what}: version ${r.version} is active (${r.rules} rules).`;
    showErrors(r.skipped ?? []);
  } catch (e) {
    done = `${what} refused: ${e.message}.`;
    showErrors(e.data?.errors ?? []);
  }
  await show(done);
}

export async function show(note = "") {
  const data = await load("/api/v1/rules", status, "the rules");
  if (!data) {
    return;
  }
  const a = data.active;
  describe(active, [["Version", a.version === 0 ? "0 (rules.dir)" : a.version],
    ["Source", a.source], ["Rules", a.rules], ["Skipped", a.skipped],
    ["Content hash", a.content_hash]]);
  rows.replaceChildren();
  for (const v of data.versions) {
    const row = document.createElement("tr");
    row.dataset.version = v.version;
    cell(row, v.version === a.version ? `${v.version} (active)` : v.version);
    cell(row, whenNs(v.created_unix_ns));
    cell(row, v.summary?.rules);
    cell(row, v.summary?.files);
    cell(row, v.note);
    const act = cell(row, "");
    if (v.version !== a.version) {
      act.append(button("Activate", () => change(`Version ${v.version}`,
        () => api("POST", "/api/v1/rules/rollback", { version: v.version }))));
    }
    rows.append(row);
  }
  rollback.disabled = a.version === 0;
  status.textContent = note;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const chosen = [...form.elements.files.files];
  change("The upload", async () => api("POST", "/api/v1/rules", {
    files: await Promise.all(chosen.map(async (f) => ({ name: f.name, text: await f.text() }))),
    lenient: form.elements.lenient.checked,
    note: form.elements.note.value,
  }));
});

rollback.addEventListener("click", () => change("Roll back",
  () => api("POST", "/api/v1/rules/rollback", {})));
