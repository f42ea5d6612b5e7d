// The console's shell: the session's CSRF token, sign-out, and one page at a time, chosen by
// the address's fragment (#overview, #restrictions, #alerts, #pools, #trace,
// #senders, #rules). A page may have a
// hide(), called when another is shown (the overview gives back its event stream).
import { api, setCsrf } from "./common.js";
import * as alerts from "./alerts.js";
import * as overview from "./overview.js";
import * as pools from "./pools.js";
import * as restrictions from "./restrictions.js";
import * as rules from "./rules.js";
import * as senders from "./senders.js";
import * as trace from "./trace.js";

const pages = { overview, restrictions, alerts, pools, trace, senders, rules };
let shown = null;

function route(moved) {
  const name = pages[window.location.hash.slice(1)] ? window.location.hash.slice(1) : "overview";
  if (shown !== null && shown !== name) {
    pages[shown].hide?.();
  }
  shown = name;
  for (const section of document.querySelectorAll("main > section")) {
    section.hidden = section.id !== name;
  }
  for (const link of document.querySelectorAll("header nav a")) {
    if (link.getAttribute("href") === `#${name}`) {
      link.setAttribute("aria-current", "page");
    } else {
      link.removeAttribute("aria-current");
    }
  }
  pages[name].show();
  if (moved) {
    // The keyboard's next Tab starts in the page just opened, and a screen reader reads its title.
    const title = document.getElementById(`${name}-title`);
    title.tabIndex = -1;
    title.focus();
  }
}

document.getElementById("sign-out").addEventListener("click", async () => {
  await api("DELETE", "/ui/session").catch(() => {});
  window.location.assign("/ui/sign-in.html");
});

const session = await api("GET", "/ui/session");
setCsrf(session.csrf);
api("GET", "/api/v1/health").then((h) => {
  document.getElementById("gateway-name").textContent = h.gateway ? `· ${h.gateway}` : "";
  document.title = h.gateway ? `smtpgw console · ${h.gateway}` : document.title;
}).catch(() => {});
window.addEventListener("hashchange", () => route(true));
route(false);
