// The switch on the page a browser gets for a module that is off: the same request the
// landing page's switch sends (PATCH /sandbox/modules/<name>), then the page is loaded again.
"use strict";

for (const button of document.querySelectorAll("[data-switch-on]")) {
  button.addEventListener("click", async () => {
    const status = document.querySelector("[data-switch-status]");
    button.disabled = true;
    status.textContent = "Switching on…";
    const response = await fetch(button.dataset.switchOn, {
      method: "PATCH",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ enabled: true }),
    });
    if (response.ok) {
      window.location.reload();
      return;
    }
    const problem = await response.json().catch(() => ({}));
    status.textContent = problem.detail || `The switch answered ${response.status}.`;
    button.disabled = false;
  });
}
