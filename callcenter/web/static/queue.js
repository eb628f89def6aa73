// The live queue: open incidents, most urgent first, refreshed on every incident event.
"use strict";
(() => {
  const body = document.getElementById("queue-body");
  const empty = document.getElementById("queue-empty");
  const known = new Set();
  let first = true;

  function flags(item) {
    const out = [];
    if (item.urgent) out.push(el("span", { class: "badge urgent" }, t("flag.urgent")));
    if (item.unknown_caller) out.push(el("span", { class: "badge unknown" }, t("flag.unknown")));
    if (item.silent) out.push(el("span", { class: "badge silent" }, t("flag.silent")));
    return out;
  }

  function row(item, fresh) {
    const classes = ["incident-row", item.attention ? "attention" : "", fresh ? "fresh" : ""].join(" ");
    const tr = el("tr", { class: classes, "data-id": item.id },
      el("td", { class: "since", "data-since": item.opened_at }, since(item.opened_at)),
      el("td", {}, el("a", { href: "/incidents/" + encodeURIComponent(item.id), class: "open-incident" }, item.label),
        " ", ...flags(item), el("div", { class: "muted" }, item.address || item.caller_display)),
      el("td", {}, item.grid_name ? item.village_name + " / " + item.grid_name : "–"),
      el("td", { class: "status " + item.status }, t("status." + item.status)),
      el("td", { class: "level" }, "L" + item.level + " " + item.level_name),
      el("td", { class: "next", "data-until": item.status === "alerting" ? item.next_escalation_at : "" },
        item.status === "alerting" ? until(item.next_escalation_at) : "–"),
      el("td", {}, String(item.acks)),
      el("td", {}, item.emergency_type_label));
    tr.addEventListener("click", (e) => { if (e.target.tagName !== "A") location.href = "/incidents/" + encodeURIComponent(item.id); });
    return tr;
  }

  async function refresh() {
    const page = await api("GET", "/api/incidents?open=true&order=queue&limit=200");
    let sound = false;
    const rows = page.items.map((item) => {
      const fresh = !first && !known.has(item.id);
      if (fresh && item.attention) sound = true;
      known.add(item.id);
      return row(item, fresh);
    });
    body.replaceChildren(...rows);
    empty.hidden = rows.length > 0;
    if (sound) alarmSound();
    first = false;
  }

  refresh();
  liveUpdates(debounced(() => refresh().catch(console.error), 100), document.getElementById("live-status"));
})();
