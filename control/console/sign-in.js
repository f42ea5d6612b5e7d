// Sign-in: the API token is exchanged for a session cookie (HttpOnly, SameSite=Strict) by
// POST /ui/session; the token itself is never stored by the page.
const form = document.getElementById("sign-in");
const error = document.getElementById("error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const token = form.elements.token.value;
  let response;
  try {
    response = await fetch("/ui/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
      credentials: "same-origin",
    });
  } catch (e) {
    error.textContent = "The gateway did not answer.";
    error.hidden = false;
    return;
  }
  if (response.ok) {
    window.location.assign("/ui/");
    return;
  }
  error.textContent = response.status === 401 ? "Wrong token." : `Sign-in failed (${response.status}).`;
  error.hidden = false;
  form.elements.token.select();
});
