// Source bans: an operator lifts one; the page reloads to show the source as watched again.
"use strict";
(() => {
  const result = document.getElementById("source-result");
  for (const button of document.querySelectorAll(".lift-ban")) {
    button.addEventListener("click", async () => {
      const source = button.closest("tr").dataset.source;
      button.disabled = true;
      try { await api("POST", "/api/sources/" + encodeURIComponent(source) + "/lift"); location.reload(); }
      catch (err) { button.disabled = false; result.textContent = err.message; }
    });
  }
})();
