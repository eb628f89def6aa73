// The live queue: open incidents, most urgent first; a new incident is shown from its live event,
// and the list is refetched after every burst of events (at most once a second while they keep coming).
"use strict";
(() => {
  const body = document.getElementById("queue-body");
  const empty = document.getElementById("queue-empty");
  const FRESH_MS = 3000;  // as long as the highlight flashes
  const known = new Set();
  const freshSince = new Map();
  let shown = [];  // the items of the rows on screen, in order
  const pushed = new Map();  // id -> {item, at}: rows shown from live events
  let requested = 0, applied = 0;  // refetches may answer out of order
  let first = true;

  function flags(item) {
    const out = [];
    if (item.urgent) out.push(el("span", { class: "badge urgent" }, t("flag.urgent")));
    if (item.unknown_caller) out.push(el("span", { class: "badge unknown" }, t("flag.unknown")));
    if (item.held) out.push(el("span", { class: "badge held" }, t("flag.held")));
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

  // The server's queue order: attention first, then still alerting, then the higher level, then the
  // longest waiting.
  function key(item) {
    return [item.attention ? 0 : 1, item.status === "alerting" ? 0 : 1, -item.level, Date.parse(item.opened_at), item.id];
  }
  function earlier(a, b) {
    const ka = key(a), kb = key(b);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i];
    return false;
  }

  function isFresh(id) {
    if (first) return false;
    if (!freshSince.has(id)) freshSince.set(id, Date.now());
    return Date.now() - freshSince.get(id) < FRESH_MS;
  }

  async function refresh() {
    const asked = ++requested, askedAt = Date.now();
    const page = await api("GET", "/api/incidents?open=true&order=queue&limit=200");
    if (asked < applied) return;  // a later refetch already answered
    applied = asked;
    // Rows pushed while this list was being read are not in it yet: keep them.
    const listed = new Set(page.items.map((item) => item.id));
    const items = page.items.concat([...pushed.values()].filter((p) => p.at >= askedAt && !listed.has(p.item.id)).map((p) => p.item));
    for (const [id, p] of pushed) if (p.at < askedAt) pushed.delete(id);
    if (items.length > page.items.length) items.sort((a, b) => (earlier(a, b) ? -1 : earlier(b, a) ? 1 : 0));
    let sound = false;
    const rows = items.map((item) => {
      if (!known.has(item.id) && !first && item.attention) sound = true;
      known.add(item.id);
      return row(item, isFresh(item.id));
    });
    shown = items;
    body.replaceChildren(...rows);
    empty.hidden = rows.length > 0;
    if (sound) alarmSound();
    first = false;
  }

  // A new incident pushed with its "opened" event goes on the screen at once, in queue order; the
  // refetch that follows brings everything else up to date.
  function place(item) {
    if (first || known.has(item.id)) return;
    known.add(item.id);
    pushed.set(item.id, { item, at: Date.now() });
    const at = shown.findIndex((other) => earlier(item, other));
    const tr = row(item, isFresh(item.id));
    if (at < 0) { body.append(tr); shown.push(item); } else { body.insertBefore(tr, body.children[at]); shown.splice(at, 0, item); }
    empty.hidden = true;
    if (item.attention) alarmSound();
  }

  // At most once a second in a flood: new incidents are on screen from their own events already, and
  // every operator's refetch of the whole queue is work the service does while households press.
  const refreshSoon = debounced(() => refresh().catch(console.error), 100, 1000);
  refresh();
  liveUpdates((id, kind, data) => { if (data && data.summary) place(data.summary); refreshSoon(); },
    document.getElementById("live-status"));
})();
