// What every page of the console shares: the API call (session cookie, CSRF token on changes),
// and putting values into the page as text only: addresses, subjects and names come from mail.
let csrf = "";

export function setCsrf(token) {
  csrf = token;
}

export async function api(method, path, body) {
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
    const error = new Error(data.error || `${response.status}`);
    error.data = data;  // the whole answer: a refused rule set's "errors", say
    throw error;
  }
  return data;
}

// The answer of GET `path`, or null with why it failed put into `status` (what: "the alerts").
export async function load(path, status, what) {
  try {
    return await api("GET", path);
  } catch (e) {
    status.textContent = `Could not read ${what}: ${e.message}`;
    return null;
  }
}

// A table cell holding `text` as text, appended to `row`.
export function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  row.append(td);
  return td;
}

// Fills the description list `dl` with [name, value] pairs as text; each value's element has
// data-field set to its name (for tests and styles).
export function describe(dl, pairs) {
  dl.replaceChildren();
  for (const [name, value] of pairs) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value === null || value === undefined ? "" : String(value);
    dd.dataset.field = name;
    dl.append(dt, dd);
  }
}

export function button(label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

// "2026-12-06T02:59:34Z" from unix seconds (0: "").
export function when(unixSeconds) {
  return unixSeconds ? new Date(unixSeconds * 1000).toISOString().replace(".000Z", "Z") : "";
}

export function whenNs(unixNs) {
  return when(Math.floor(unixNs / 1e9));
}
