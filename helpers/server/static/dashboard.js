// The live dashboard: reads /_dashboard/events (server-sent events) and draws the numbers.
// Everything a client sent (its name) is put on the page with textContent, never as HTML.
"use strict";

(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const WIDTH = 640;
  const HEIGHT = 200;
  const TOP = 12;
  const BOTTOM = 22;
  const LEFT = 36;

  let samples = []; // [t, arrived, peak, inFlight], t in seconds of server time
  let windowSeconds = 60;
  let updates = 0;

  const $ = (id) => document.getElementById(id);
  const text = (id, value) => {
    const el = $(id);
    const s = String(value);
    if (el.textContent !== s) el.textContent = s;
  };

  // ------------------------------------------------------------------ the stream

  const source = new EventSource("/_dashboard/events");
  source.addEventListener("open", () => setConnection("live", "live"));
  source.addEventListener("error", () => setConnection("reconnecting", "reconnecting…"));
  source.addEventListener("history", (event) => {
    const data = JSON.parse(event.data);
    windowSeconds = data.window;
    samples = data.samples;
    drawChart();
  });
  source.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    samples.push(frame.sample);
    const oldest = frame.sample[0] - windowSeconds;
    while (samples.length && samples[0][0] < oldest) samples.shift();
    updates += 1;
    render(frame);
  });

  function setConnection(state, label) {
    const el = $("connection");
    el.dataset.state = state;
    el.textContent = label;
  }

  $("reset").addEventListener("click", () => {
    fetch("/_stats/reset", { method: "POST" }).catch(() => setConnection("reconnecting", "reset failed"));
  });

  // ------------------------------------------------------------------ numbers and table

  function render(frame) {
    const s = frame.stats;
    const status = s.by_status;
    text("rps", frame.rps.toFixed(1));
    text("in-flight", s.in_flight);
    text("peak", s.peak_in_flight);
    text("requests", s.requests);
    text("connections", s.connections_opened);
    let shown = 0;
    for (const code of ["200", "404", "429", "500"]) {
      text("status-" + code, status[code] || 0);
      shown += status[code] || 0;
    }
    const total = Object.values(status).reduce((a, b) => a + b, 0);
    text("status-other", total - shown);
    text("dropped", s.dropped);
    text("settings", describeSettings(s.settings));
    text("evicted", s.clients_evicted
      ? `${s.clients_evicted} least recently seen clients are no longer shown.` : "");
    text("updates", updates);
    renderClients(s.clients);
    drawChart();
  }

  function describeSettings(st) {
    const parts = [`latency ${Math.round(st.latency * 1000)} ms`];
    if (st.jitter) parts.push(`jitter ${Math.round(st.jitter * 1000)} ms`);
    parts.push(st.capacity === null ? "no capacity limit" : `capacity ${st.capacity}`);
    parts.push(st.rate_limit === null ? "no rate limit" : `rate limit ${st.rate_limit}/s per address`);
    if (st.error_rate) parts.push(`error rate ${st.error_rate}`);
    if (st.drop_rate) parts.push(`drop rate ${st.drop_rate}`);
    if (st.slow_rate) parts.push(`slow rate ${st.slow_rate}`);
    return parts.join(", ");
  }

  const COLUMNS = ["requests", "in_flight", "peak_in_flight", "too_many", "errors"];

  function renderClients(clients) {
    const names = Object.keys(clients).sort((a, b) => a.localeCompare(b));
    const rows = names.map((name) => {
      const c = clients[name];
      const tr = document.createElement("tr");
      if (c.in_flight > 0) tr.className = "busy";
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = name; // untrusted: text, never HTML
      tr.append(th);
      for (const key of COLUMNS) {
        const td = document.createElement("td");
        td.textContent = String(c[key]);
        tr.append(td);
      }
      return tr;
    });
    $("clients").tBodies[0].replaceChildren(...rows);
  }

  // ------------------------------------------------------------------ the chart

  function niceCeiling(value) {
    if (value <= 5) return 5;
    const power = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 2.5, 5, 10]) {
      if (step * power >= value) return step * power;
    }
    return 10 * power;
  }

  function svg(name, attributes, content) {
    const el = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attributes)) el.setAttribute(k, String(v));
    if (content !== undefined) el.textContent = content;
    return el;
  }

  function drawChart() {
    if (!samples.length) return;
    const now = samples[samples.length - 1][0];
    const top = niceCeiling(Math.max(...samples.map((s) => s[2])));
    const x = (t) => LEFT + ((t - (now - windowSeconds)) / windowSeconds) * (WIDTH - LEFT - 4);
    const y = (v) => HEIGHT - BOTTOM - (v / top) * (HEIGHT - BOTTOM - TOP);

    const grid = [];
    for (const v of [0, top / 2, top]) {
      grid.push(svg("line", { x1: LEFT, x2: WIDTH - 4, y1: y(v), y2: y(v), class: "gridline" }));
      grid.push(svg("text", { x: LEFT - 6, y: y(v) + 4, class: "ylabel" }, String(v)));
    }
    for (const ago of [60, 45, 30, 15, 0]) {
      if (ago > windowSeconds) continue;
      const anchor = ago === 0 ? "end" : ago === windowSeconds ? "start" : "middle";
      grid.push(svg("text", { x: x(now - ago), y: HEIGHT - 6, class: "xlabel",
        "text-anchor": anchor }, ago ? `−${ago} s` : "now"));
    }
    $("grid").replaceChildren(...grid);

    const points = samples.map((s) => `${x(s[0]).toFixed(1)},${y(s[2]).toFixed(1)}`);
    $("line").setAttribute("points", points.join(" "));
    const first = samples[0][0];
    $("area").setAttribute("points",
      `${x(first).toFixed(1)},${y(0)} ${points.join(" ")} ${x(now).toFixed(1)},${y(0)}`);
  }
})();
