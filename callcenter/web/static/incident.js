// The incident page: household profile first, voice message, responders with live legs, timeline, actions.
"use strict";
(() => {
  const root = document.getElementById("incident");
  const id = root.dataset.id;
  const types = JSON.parse(root.dataset.types);
  const result = document.getElementById("action-result");
  let current = null;

  function field(list, label, value) {
    if (!value || (Array.isArray(value) && !value.length)) return;
    list.append(el("dt", {}, label), el("dd", {}, Array.isArray(value) ? value.join("、") : value));
  }

  function renderProfile(d) {
    const inc = d.incident;
    document.getElementById("incident-title").replaceChildren(inc.label, " ",
      el("span", { class: "status " + inc.status, id: "incident-status" }, t("status." + inc.status)));
    const badges = [];
    if (inc.urgent) badges.push(el("span", { class: "badge urgent" }, t("flag.urgent")));
    if (inc.unknown_caller) badges.push(el("span", { class: "badge unknown" }, t("flag.unknown")));
    if (inc.silent) badges.push(el("span", { class: "badge silent" }, t("flag.silent")));
    if (inc.caller_trust === "unverified") badges.push(el("span", { class: "badge unverified" }, t("flag.unverified")));
    if (inc.held) badges.push(el("span", { class: "badge held", id: "held-badge" }, t("flag.held")));
    badges.push(" L" + inc.level + " " + inc.level_name + " · " + inc.emergency_type_label + " · ",
      el("span", { "data-since": inc.opened_at }, since(inc.opened_at)));
    if (inc.status === "alerting" && inc.next_escalation_at) {
      badges.push(" · " + t("col.next") + " ", el("span", { "data-until": inc.next_escalation_at }, until(inc.next_escalation_at)));
    }
    document.getElementById("incident-flags").replaceChildren(...badges);
    const list = document.getElementById("profile-fields");
    list.replaceChildren();
    field(list, t("incident.caller"), inc.caller_display);
    if (!d.household) { field(list, "!", t("incident.unknown_household")); return; }
    const h = d.household.household;
    field(list, t("incident.address"), h.address + " (" + d.household.place.path + ")");
    field(list, t("incident.care"), h.care_labels);
    field(list, t("incident.residents"), h.residents);
    field(list, t("incident.notes"), h.notes);
    field(list, t("incident.key_holders"), h.key_holders.map((k) => k.name + " " + k.phone_display));
    field(list, t("incident.lines"), h.emergency_lines);
  }

  function renderVoice(d) {
    const box = document.getElementById("voice-list");
    if (!d.voice_messages.length) { box.replaceChildren(el("span", { class: "muted" }, t("incident.no_voice"))); return; }
    box.replaceChildren(...d.voice_messages.map((v) =>
      el("div", {}, localTime(v.at) + " ", el("audio", { controls: true, preload: "none", src: v.url }))));
  }

  // An undelivered text says why, in the words every SMS provider's reason maps to (callcenter/domain/delivery.py).
  function deliveryReason(detail) {
    const found = /^undelivered: ([a-z_]+)/.exec(detail || "");
    return found ? t("delivery." + found[1]) : "";
  }

  function legText(leg) {
    const reason = deliveryReason(leg.detail);
    return leg.channel + " #" + leg.attempt + " " + t("leg." + leg.status) + (reason ? "（" + reason + "）" : "");
  }

  function renderResponders(d) {
    const open = ["alerting", "acknowledged"].includes(d.incident.status);
    const rows = d.responders.map((r) => {
      const ack = r.acknowledged ? el("span", { class: "badge ok" }, t("leg.acknowledged"))
        : open ? el("button", { class: "ack", "data-key": r.key, onclick: () => act("acknowledge", { recipient_key: r.key }) }, t("action.ack")) : "";
      const legs = r.legs.filter((l) => l.purpose === "alert").map((l) => el("span", { class: "leg " + l.status }, legText(l)));
      return el("tr", { "data-responder": r.key, class: r.acknowledged ? "acked" : "" },
        el("td", {}, "L" + r.level), el("td", {}, r.name), el("td", {}, r.role_label), el("td", {}, r.phone_display),
        el("td", { class: "legs" }, ...legs), el("td", {}, ack));
    });
    document.getElementById("responders-body").replaceChildren(...rows);
  }

  function eventText(e) {
    const d = e.data;
    const parts = [I18N["event." + e.kind] || e.kind];
    for (const key of ["recipient", "status", "channel", "name", "text", "type", "agency", "reference", "reason", "via", "trust"]) {
      if (d[key] !== undefined && d[key] !== null && d[key] !== "") parts.push(key === "status" ? t("leg." + d[key]) : d[key]);
    }
    const reason = deliveryReason(d.detail);
    if (reason) parts.push(reason);
    return parts.join(" · ");
  }

  // Events that read the same, by the same actor within the same second (the auditor flagging a
  // dozen late legs at once), show as one line with a count.
  function collapsed(events) {
    const lines = [];
    for (const e of events) {
      const line = { kind: e.kind, actor: e.actor, time: localTime(e.at), text: eventText(e), count: 1 };
      const last = lines[lines.length - 1];
      if (last && ["kind", "actor", "time", "text"].every((key) => last[key] === line[key])) last.count += 1;
      else lines.push(line);
    }
    return lines;
  }

  function renderTimeline(d) {
    document.getElementById("timeline").replaceChildren(...collapsed(d.timeline.slice().reverse()).map((line) =>
      el("li", { class: "event " + line.kind }, el("time", {}, line.time), " ", el("b", {}, line.actor), " ", line.text,
        line.count > 1 ? el("span", { class: "repeat" }, " ×" + line.count) : "")));
  }

  function renderActions(d) {
    const open = ["alerting", "acknowledged"].includes(d.incident.status);
    for (const b of document.querySelectorAll("#actions button, #actions select, #actions textarea")) {
      const always = ["act-note", "act-dispatch", "act-call-back", "dispatch-agency", "note-text", "dispatch-ref",
        "dispatch-at"].includes(b.id);
      b.disabled = !open && !always;
    }
    document.getElementById("act-release").hidden = !d.incident.held;
    const select = document.getElementById("type-select");
    if (!select.options.length) {
      select.append(...Object.entries(types).map(([value, label]) => el("option", { value }, label)));
    }
    select.value = d.incident.emergency_type;
  }

  async function refresh() {
    const d = await api("GET", "/api/incidents/" + encodeURIComponent(id));
    current = d;
    renderProfile(d); renderVoice(d); renderResponders(d); renderTimeline(d); renderActions(d);
  }

  async function act(path, body, confirmFirst) {
    if (confirmFirst && !window.confirm(t("action.confirm"))) return;
    try {
      await api("POST", "/api/incidents/" + encodeURIComponent(id) + "/" + path, body);
      result.textContent = t("action.done");
      result.className = "ok";
      await refresh();
    } catch (err) {
      result.textContent = err.message;
      result.className = "error";
    }
  }

  const on = (buttonId, fn) => document.getElementById(buttonId).addEventListener("click", fn);
  on("act-call-back", () => act("call-back"));
  on("act-type", () => act("type", { emergency_type: document.getElementById("type-select").value }));
  on("act-dispatch", () => {
    const at = document.getElementById("dispatch-at").value;  // local time of the operator's browser
    act("dispatch", { agency: document.getElementById("dispatch-agency").value,
      reference: document.getElementById("dispatch-ref").value, at: at ? new Date(at).toISOString() : null });
  });
  on("act-note", () => {
    const text = document.getElementById("note-text");
    if (!text.value.trim()) return;
    act("notes", { text: text.value }).then(() => { text.value = ""; });
  });
  on("act-resolve", () => act("resolve", { note: "" }, true));
  on("act-false-alarm", () => act("false-alarm", undefined, true));
  on("act-release", () => act("release", undefined, true));

  refresh();
  const refreshSoon = debounced(() => refresh().catch(console.error), 100);
  liveUpdates((incidentId) => { if (!incidentId || incidentId === id) refreshSoon(); }, null);
  window.incidentState = () => current;
})();
