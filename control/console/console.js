// The console's pages. Every value from the gateway is put into the page as text
// (textContent), never as HTML: addresses and names come from mail.
let csrf = "";

async function api(method, path, body) {
  const headers = {};
  if (method !== "GET") {
    headers["X-CSRF-Token"] = csrf;
  }
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  if (response.status === 401) {
    window.location.assign("/ui/sign-in.html");
    throw new Error("signed out");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(data.error || `${response.status}`);
  }
  return data;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.append(td);
  return td;
}

function when(unixSeconds) {
  return unixSeconds ? new Date(unixSeconds * 1000).toISOString().replace(".000Z", "Z") : "";
}

const status = document.getElementById("restrictions-status");
const rows = document.getElementById("restrictions-rows");
const releaseForm = document.getElementById("release");
let releasing = "";

// Lists the restrictions in force; `note` (what was just done) leads the status line.
async function loadRestrictions(note = "") {
  let data;
  try {
    data = await api("GET", "/api/v1/restrictions");
  } catch (e) {
    status.textContent = `Could not read the restrictions: ${e.message}`;
    return;
  }
  rows.replaceChildren();
  for (const r of data.restrictions) {
    const row = document.createElement("tr");
    cell(row, r.key);
    cell(row, r.kind);
    cell(row, r.limit);
    cell(row, r.action);
    cell(row, when(Math.floor(r.applied_unix_ns / 1e9)));
    cell(row, r.until_unix_s ? when(r.until_unix_s) : "until released");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Release";
    button.addEventListener("click", () => {
      releasing = r.key;
      document.getElementById("release-key").textContent = r.key;
      releaseForm.hidden = false;
      releaseForm.elements.reason.focus();
    });
    cell(row, "").append(button);
    rows.append(row);
  }
  const count = data.restrictions.length === 0 ? "No sender is restricted."
    : `${data.restrictions.length} restricted.`;
  status.textContent = note ? `${note} ${count}` : count;
}

releaseForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  let note;
  try {
    await api("POST", "/api/v1/restrictions/release",
      { key: releasing, reason: releaseForm.elements.reason.value });
    note = `Released ${releasing}.`;
  } catch (e) {
    note = `Not released: ${e.message}.`;
  }
  releaseForm.hidden = true;
  releaseForm.reset();
  loadRestrictions(note);
});
document.getElementById("release-cancel").addEventListener("click", () => {
  releaseForm.hidden = true;
  releaseForm.reset();
});

document.getElementById("sign-out").addEventListener("click", async () => {
  await api("DELETE", "/ui/session").catch(() => {});
  window.location.assign("/ui/sign-in.html");
});

const session = await api("GET", "/ui/session");
csrf = session.csrf;
loadRestrictions();
