// Shared helpers of the console pages: texts, CSRF-protected API calls, safe DOM building, times, sound.
"use strict";
const I18N = JSON.parse(document.getElementById("i18n").textContent);
const CSRF = document.querySelector('meta[name="csrf-token"]').content;

function t(key) { return I18N[key] || key; }

async function api(method, url, body) {
  const response = await fetch(url, {
    method, credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = (await response.json()).detail; } catch (e) { /* not JSON */ }
    throw new Error(response.status + ": " + (typeof detail === "string" ? detail : JSON.stringify(detail)));
  }
  return response.status === 204 ? null : response.json();
}

// el("td", {class: "x"}, "text", child): text always goes in as text, never as HTML.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("data-") || key === "class" || key === "href" || key === "title" || key === "id") {
      node.setAttribute(key, value);
    } else { node[key] = value; }
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  if (h) return h + t("time.h") + two(m) + t("time.m");
  return m + t("time.m") + two(r) + t("time.s");
}

function since(iso) { return duration((Date.now() - Date.parse(iso)) / 1000); }

function until(iso) {
  if (!iso) return "–";
  const left = (Date.parse(iso) - Date.now()) / 1000;
  return left <= 0 ? t("time.overdue") : duration(left);
}

function localTime(iso) { return new Date(iso).toLocaleTimeString(document.documentElement.lang, { hour12: false }); }

// Ticking texts: elements with data-since / data-until are refreshed every second.
function tick() {
  for (const node of document.querySelectorAll("[data-since]")) node.textContent = since(node.dataset.since);
  for (const node of document.querySelectorAll("[data-until]")) node.textContent = until(node.dataset.until);
}
setInterval(tick, 1000);

let audio = null;
function alarmSound() {
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = 880; gain.gain.value = 0.2;
    osc.connect(gain).connect(audio.destination);
    osc.start(); osc.stop(audio.currentTime + 0.4);
    document.body.dataset.alarms = String(Number(document.body.dataset.alarms || 0) + 1);
  } catch (e) { /* no audio device: the highlight remains */ }
}

// Server-sent events; onChange(incidentId, kind, data) runs per event. The status element shows the link state.
function liveUpdates(onChange, statusNode) {
  const source = new EventSource("/api/events");
  source.onopen = () => {
    if (statusNode) { statusNode.textContent = t("queue.connected"); statusNode.className = "live on"; }
    onChange(null, "connected");  // whatever changed while the stream was down
  };
  source.onerror = () => { if (statusNode) { statusNode.textContent = t("queue.disconnected"); statusNode.className = "live off"; } };
  source.addEventListener("incident", (e) => { const d = JSON.parse(e.data); onChange(d.incident_id, d.kind, d); });
  // The server ended the stream because the session is gone (signed out elsewhere, disabled).
  source.addEventListener("session_ended", () => { source.close(); location.assign("/login"); });
  return source;
}

// Coalesce a burst of events into one refresh ``ms`` after its first event; while events keep
// coming (a flood), refresh at most once every ``everyMs``.
function debounced(fn, ms, everyMs = 0) {
  let timer = null, last = 0;
  return () => {
    if (timer) return;
    const wait = Math.max(ms, last + everyMs - Date.now());
    timer = setTimeout(() => { timer = null; last = Date.now(); fn(); }, wait);
  };
}
