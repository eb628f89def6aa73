// The flood banner on the queue page: while calls wait for trunk channels or many incidents alert at
// once, how many wait for a first call or for quorum and how full the trunk is (GET /api/flood, every
// few seconds); hidden otherwise.
"use strict";
(() => {
  const banner = document.getElementById("flood-banner");
  const EVERY_MS = 3000;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  }

  // With a SIP trunk in this process: its channels and its queue; else the calls queued by any instance.
  function text(state) {
    const tail = state.trunk ? fill(t("flood.trunk"), state.trunk) : fill(t("flood.queued"), state);
    return fill(t("flood.banner"), state) + tail;
  }

  async function refresh() {
    try {
      const state = await api("GET", "/api/flood");
      if (state.flood) banner.textContent = text(state);
      banner.hidden = !state.flood;
    } catch (e) {
      console.error(e);  // the last state stays on screen until the service answers again
    } finally {
      setTimeout(refresh, EVERY_MS);
    }
  }
  refresh();
})();
