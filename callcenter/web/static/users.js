// Account administration: create accounts, enable or disable them.
"use strict";
(() => {
  const form = document.getElementById("user-form");
  const result = document.getElementById("user-result");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = form.elements;
    const body = { name: f.name.value, role: f.role.value, password: f.password.value, phone: f.phone.value,
      grid_id: f.grid_id.value ? Number(f.grid_id.value) : null };
    try { await api("POST", "/api/users", body); location.reload(); }
    catch (err) { result.textContent = err.message; }
  });
  for (const box of document.querySelectorAll(".user-active")) {
    box.addEventListener("change", async () => {
      const id = box.closest("tr").dataset.user;
      try { await api("PATCH", "/api/users/" + id, { active: box.checked }); }
      catch (err) { box.checked = !box.checked; result.textContent = err.message; }
    });
  }
})();
