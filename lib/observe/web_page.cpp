// The web view: one page, no build step and no library. It reads /api/pipeline once a second and
// draws the graph in SVG: stages as nodes in columns by depth (sources left, sinks right), a stage's
// copies as one node with stacked shadows and "xN", subscriptions as arrows labelled with the
// edge's outstanding demand and events in flight. A node's colour mixes its busy (orange), idle
// (green) and back-pressured (blue) shares of the last second; a stalled stage gets a red dashed
// frame and "STALLED", a bottleneck a thick frame, restarts a "restarts N" badge. Below, a table
// with the same figures as `sluice top`. Elements carry data-stage / data-from / data-to so tests
// (and users' scripts) can find them.
#include "observe/web_page.hpp"

namespace sluice::observe {

std::string_view web_page() noexcept {
  return R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>sluice</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 16px; color: #222; background: #fafafa; }
  h1 { font-size: 18px; margin: 0 0 4px; }
  #status { color: #555; margin-bottom: 8px; }
  #status .bad { color: #b00; font-weight: bold; }
  svg { background: #fff; border: 1px solid #ddd; }
  .stage text { font-size: 12px; }
  .stage .name { font-weight: bold; font-size: 13px; }
  .edge path { fill: none; stroke: #888; stroke-width: 1.5; }
  .edge text { font-size: 11px; fill: #444; }
  .stalled-label { fill: #b00; font-weight: bold; }
  table { border-collapse: collapse; margin-top: 12px; background: #fff; }
  th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
  th:first-child, td:first-child, td:nth-child(2), td:nth-child(3) { text-align: left; }
  tr.stalled td { background: #fdd; }
  tr.bottleneck td { background: #ffe9c7; }
  .legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; vertical-align: -2px; }
</style>
</head>
<body>
<h1 id="title">sluice</h1>
<div id="status">connecting...</div>
<div class="legend">share of the last second:<span style="background:rgb(235,120,50)"></span>busy<span
  style="background:rgb(110,185,110)"></span>idle (waiting for events)<span
  style="background:rgb(80,125,225)"></span>back-pressured (waiting for demand)</div>
<svg id="graph" width="900" height="200" xmlns="http://www.w3.org/2000/svg">
  <defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse">
    <path d="M 0 0 L 10 5 L 0 10 z" fill="#888"/></marker></defs>
  <g id="edges"></g><g id="nodes"></g>
</svg>
<table id="figures"></table>
<script>
"use strict";
const W = 210, H = 92, GAPX = 130, GAPY = 34, PAD = 24;
const NS = "http://www.w3.org/2000/svg";
window.sluiceUpdates = 0;

function el(name, attrs, parent, text) {
  const e = document.createElementNS(NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  if (parent) parent.appendChild(e);
  return e;
}
function rate(x) {
  if (x >= 1e9) return (x / 1e9).toFixed(1) + "G/s";
  if (x >= 1e6) return (x / 1e6).toFixed(1) + "M/s";
  if (x >= 1e4) return (x / 1e3).toFixed(1) + "k/s";
  return (x >= 100 || x === 0 ? x.toFixed(0) : x.toFixed(1)) + "/s";
}
function pct(x) { return Math.round(x * 100) + "%"; }
function colour(s) {
  if (s.state === "stopped") return "rgb(200,200,200)";
  const c = [0, 1, 2].map(i => [235, 120, 50][i] * s.busy_ratio + [110, 185, 110][i] * s.idle_ratio + [80, 125, 225][i] * s.back_pressured_ratio);
  const total = s.busy_ratio + s.idle_ratio + s.back_pressured_ratio || 1;
  return "rgb(" + c.map(v => Math.round(v / total)).join(",") + ")";
}
// Columns by depth: a stage sits one column right of its deepest producer.
function layout(api) {
  const depth = {}, inputs = {};
  api.stages.forEach(s => { depth[s.name] = 0; inputs[s.name] = []; });
  api.edges.forEach(e => inputs[e.to].push(e.from));
  for (let round = 0; round < api.stages.length; ++round) {
    api.stages.forEach(s => inputs[s.name].forEach(p => { depth[s.name] = Math.max(depth[s.name], depth[p] + 1); }));
  }
  const rows = {}, pos = {};
  api.stages.forEach(s => {
    const d = depth[s.name], r = rows[d] || 0;
    rows[d] = r + 1;
    pos[s.name] = { x: PAD + d * (W + GAPX), y: PAD + r * (H + GAPY) };
  });
  const cols = Math.max(...Object.values(depth)) + 1, most = Math.max(...Object.values(rows));
  return { pos, width: 2 * PAD + cols * W + (cols - 1) * GAPX, height: 2 * PAD + most * H + (most - 1) * GAPY };
}
function drawNode(g, s, p) {
  const node = el("g", { class: "stage", "data-stage": s.name, "data-state": s.state, transform: "translate(" + p.x + "," + p.y + ")" }, g);
  for (let i = Math.min(s.copies, 3) - 1; i > 0; --i) el("rect", { x: 4 * i, y: -4 * i, width: W, height: H, rx: 6, fill: "#eee", stroke: "#999" }, node);
  el("rect", { class: "box", width: W, height: H, rx: 6, fill: colour(s),
               stroke: s.stalled ? "#c00" : s.bottleneck ? "#7a3b00" : "#555", "stroke-width": s.stalled || s.bottleneck ? 4 : 1,
               "stroke-dasharray": s.stalled ? "8 4" : "" }, node);
  el("text", { class: "name", x: 8, y: 17 }, node, s.name + (s.copies > 1 ? "  x" + s.copies : ""));
  el("text", { x: 8, y: 33 }, node, s.type + " · " + s.state.replace("_", "-"));
  el("text", { class: "rate", x: 8, y: 50 }, node,
     (s.role === "source" ? "" : "in " + rate(s.in_per_second) + "  ") + (s.role === "sink" ? "" : "out " + rate(s.out_per_second)));
  el("text", { x: 8, y: 66 }, node, "busy " + pct(s.busy_ratio) + " · idle " + pct(s.idle_ratio) + " · bp " + pct(s.back_pressured_ratio));
  const marks = [];
  if (s.stalled) marks.push("STALLED");
  if (s.bottleneck) marks.push("bottleneck");
  if (s.restarts > 0) marks.push("restarts " + s.restarts);
  if (s.dropped > 0) marks.push("dropped " + s.dropped);
  el("text", { class: s.stalled ? "stalled-label" : "", x: 8, y: 83 }, node, marks.join(" · ") || "buffered " + s.buffered);
}
function drawEdge(g, e, a, b) {
  const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
  const edge = el("g", { class: "edge", "data-from": e.from, "data-to": e.to }, g);
  el("path", { d: "M" + x1 + "," + y1 + " C" + mx + "," + y1 + " " + mx + "," + y2 + " " + x2 + "," + y2, "marker-end": "url(#arrow)" }, edge);
  const my = (y1 + y2) / 2;
  el("text", { x: mx, y: my - 6, "text-anchor": "middle" }, edge, e.exact ? "demand " + e.demand_outstanding : "(shared edge)");
  if (e.exact) el("text", { x: mx, y: my + 14, "text-anchor": "middle" }, edge, "in flight " + e.in_flight);
}
function drawTable(api) {
  const t = document.getElementById("figures");
  const cols = ["stage", "type", "state", "in/s", "out/s", "buffered", "queued", "demand", "busy", "back-pressured", "in", "out", "dropped", "restarts"];
  let html = "<tr>" + cols.map(c => "<th>" + c + "</th>").join("") + "</tr>";
  api.stages.forEach(s => {
    const cls = s.stalled ? "stalled" : s.bottleneck ? "bottleneck" : "";
    const cells = [s.name + (s.copies > 1 ? " x" + s.copies : ""), s.type, s.state + (s.stalled ? " STALLED" : ""), rate(s.in_per_second),
                   rate(s.out_per_second), s.buffered, s.queued, s.demand_outstanding, pct(s.busy_ratio), pct(s.back_pressured_ratio),
                   s.events_in, s.events_out, s.dropped, s.restarts];
    html += "<tr class='" + cls + "' data-stage='" + encodeURIComponent(s.name) + "'>" + cells.map(c => "<td>" + String(c).replace(/</g, "&lt;") + "</td>").join("") + "</tr>";
  });
  t.innerHTML = html;
}
function draw(api) {
  const L = layout(api), svg = document.getElementById("graph");
  svg.setAttribute("width", Math.max(L.width, 400));
  svg.setAttribute("height", L.height);
  const nodes = document.getElementById("nodes"), edges = document.getElementById("edges");
  nodes.replaceChildren();
  edges.replaceChildren();
  api.edges.forEach(e => drawEdge(edges, e, L.pos[e.from], L.pos[e.to]));
  api.stages.forEach(s => drawNode(nodes, s, L.pos[s.name]));
  drawTable(api);
  document.getElementById("title").textContent = "sluice: " + (api.pipeline || "pipeline");
  const state = api.ended ? "ended" : api.draining ? "draining" : api.ready ? "ready" : "starting";
  let status = state + " · up " + Math.round(api.uptime_seconds) + " s";
  if (api.stalled.length) status += " · <span class='bad'>stalled: " + api.stalled.map(s => s.stage.replace(/</g, "&lt;") + " (" + s.why.replace(/</g, "&lt;") + ")").join(", ") + "</span>";
  document.getElementById("status").innerHTML = status;
}
async function refresh() {
  try {
    const r = await fetch("api/pipeline", { cache: "no-store" });
    draw(await r.json());
    window.sluiceUpdates += 1;
  } catch (e) {
    document.getElementById("status").innerHTML = "<span class='bad'>not reachable: " + e + "</span>";
  }
  setTimeout(refresh, 1000);
}
refresh();
</script>
</body>
</html>
)html";
}

}  // namespace sluice::observe
