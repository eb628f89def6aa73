// Household page: save special-care flags, notes and key holders; correct a responder's phone.
"use strict";
(() => {
  const root = document.getElementById("household");
  const id = root.dataset.id;
  const form = document.getElementById("household-form");
  const result = document.getElementById("household-result");

  function keyHolders(text) {
    return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
      // "姓名 电话": the name is the first word, the phone the rest (phones may be written with spaces).
      const at = line.search(/\s/);
      return at < 0 ? { name: line, phone: "" } : { name: line.slice(0, at), phone: line.slice(at + 1).trim() };
    });
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {
      care_flags: [...form.querySelectorAll('input[name="care"]:checked')].map((c) => c.value),
      notes: form.elements.notes.value,
      key_holders: keyHolders(form.elements.key_holders.value),
    };
    try { await api("PATCH", "/api/directory/households/" + id, body); result.textContent = t("action.done"); }
    catch (err) { result.textContent = err.message; }
  });

  for (const button of document.querySelectorAll(".responder-save")) {
    button.addEventListener("click", async () => {
      const row = button.closest("tr");
      const phone = row.querySelector(".responder-phone").value;
      try { await api("PATCH", "/api/directory/responders/" + row.dataset.responder, { phone }); button.textContent = t("action.done"); }
      catch (err) { button.textContent = err.message; }
    });
  }
})();
