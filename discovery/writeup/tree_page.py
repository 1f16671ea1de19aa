"""``tree.html``: the whole search tree, interactive, in one file that opens without a network.

The page embeds a compact JSON of the tree (one short array per node) and draws it on a
canvas, so 10,000 nodes stay responsive. What a click shows (plan, code, output, metrics,
reviews, plots) lives in chunks of nodes, parsed only when a node of the chunk is opened;
above ``compress_over`` bytes the chunks are gzip-compressed and inflated by the browser's
own DecompressionStream. Plots of the best nodes are embedded; the others are linked by
relative path, which works while the page stays in ``runs/<run>/report/``.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from discovery.writeup.facts import TOP, Facts
from discovery.writeup.figures import node_plots
from runs.store import RunStore

CHUNK = 256  # nodes per details chunk
TAIL = 2000  # characters of stdout/stderr shown per node
EMBED_BUDGET = 8_000_000  # bytes of plots embedded as data URIs, best nodes first
COMPRESS_OVER = 1_000_000  # raw details bytes above which chunks are gzipped

_OPS = ["draft", "improve", "debug", "tune", "ablate", "crossover"]
_STATUSES = ["pending", "running", "good", "buggy", "flagged", "failed", "cancelled"]


def write_tree_page(f: Facts, store: RunStore, out: Path, *, compress_over: int = COMPRESS_OVER) -> Path:
    """Write ``out/tree.html`` for the run in ``f``; return its path."""
    featured = [n.id for n in f.path] + [n.id for n in f.ranked[:TOP]]
    embed_ids = list(dict.fromkeys(featured))
    plots = _plots(f, embed_ids)
    # Chunks stay plain JSON until their total passes compress_over; from then on all are gzipped,
    # one at a time, so a large run never holds all its code and output uncompressed at once.
    texts: list[str] = []
    raw, encoding = 0, "json"
    for text in _details(f, store, plots):
        raw += len(text)
        if encoding == "json" and raw > compress_over:
            encoding = "gzip"
            texts = [_pack(t) for t in texts]
        texts.append(_pack(text) if encoding == "gzip" else text)
    chunks: list[Any] = texts if encoding == "gzip" else [json.loads(t) for t in texts]
    ops = _OPS + sorted({n.operator for n in f.nodes} - set(_OPS))
    data = {
        "title": f.run.idea.title, "run": f.run.id, "metric": f.metric_name,
        "direction": f.run.idea.metric.direction, "best": f.best.id if f.best is not None else None,
        "ops": ops, "statuses": _STATUSES,
        # id, parent, operator index, status index, metric, pruned
        "nodes": [[n.id, n.parent_id, ops.index(n.operator), _STATUSES.index(n.status.value), n.metric,
                   1 if n.pruned else 0] for n in f.nodes],
        "top": [n.id for n in f.ranked[:TOP]],
        "chunk": CHUNK, "encoding": encoding, "chunks": chunks,
    }
    payload = json.dumps(data, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")
    page = _PAGE.replace("__TITLE__", html.escape(f"Search tree: {f.run.idea.title}")).replace("__DATA__", payload)
    path = out / "tree.html"
    path.write_text(page, encoding="utf-8")
    return path


def _plots(f: Facts, embed_ids: list[int]) -> dict[int, list[str]]:
    """Image sources per node: data URIs for the featured nodes within budget, else relative links."""
    budget = EMBED_BUDGET
    out: dict[int, list[str]] = {}
    featured = set(embed_ids)
    for n in f.nodes:
        found = node_plots(f.node_dir(n.id))
        if not found:
            continue
        srcs = []
        for p in found:
            size = p.stat().st_size
            if n.id in featured and size <= budget:
                budget -= size
                srcs.append("data:image/png;base64," + base64.b64encode(p.read_bytes()).decode())
            else:
                rel = p.relative_to(f.run_dir).as_posix()
                srcs.append(f"../{rel}")
        out[n.id] = srcs
    return out


def _pack(text: str) -> str:
    return base64.b64encode(gzip.compress(text.encode(), compresslevel=6, mtime=0)).decode()


def _details(f: Facts, store: RunStore, plots: dict[int, list[str]]) -> Iterator[str]:
    """The per-node details, one JSON text per chunk in node order, read from the store row by row."""
    current: dict[str, Any] = {}
    position = {n.id: i for i, n in enumerate(f.nodes)}
    chunk_of = 0
    for node in store.iter_nodes(f.run.id):
        node_id = node.id
        if node_id not in position:
            continue
        k = position[node_id] // CHUNK
        while k != chunk_of:
            yield json.dumps(current, separators=(",", ":"), default=str)
            current, chunk_of = {}, chunk_of + 1
        item: dict[str, Any] = {"plan": node.plan or "", "code": node.code or ""}
        for key, text in (("out", node.stdout_tail), ("err", node.stderr_tail)):
            if text:
                item[key] = text[-TAIL:]
        for key, value_ in (("params", node.params), ("metrics", node.metrics)):
            if value_:
                item[key] = value_
        extra = {"error": node.error, "secs": node.exec_seconds, "attempts": node.attempts, "exit": node.exit_code,
                 "depth": node.depth, "value": node.value, "timed_out": node.timed_out or None}
        item.update({k2: v for k2, v in extra.items() if v is not None})
        if node_id in f.node_reviews:
            item["reviews"] = f.node_reviews[node_id]
        if node_id in plots:
            item["plots"] = plots[node_id]
        current[str(node_id)] = item
    # NaN in metrics is stored as text by the workspace, so the JSON above stays standard.
    yield json.dumps(current, separators=(",", ":"), default=str)


_PAGE = r"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
*{box-sizing:border-box}
html,body{margin:0;height:100%;font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1f2328}
#app{display:grid;grid-template-columns:1fr minmax(340px,38%);grid-template-rows:auto 1fr;height:100vh}
header{grid-column:1/3;padding:.5rem .8rem;border-bottom:1px solid #d0d7de;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
header h1{font-size:1.05rem;margin:0}
header .ctl{display:flex;gap:.4rem;align-items:center}
button,input{font:inherit;padding:.15rem .5rem}
#view{position:relative;overflow:hidden;background:#fcfcfd}
canvas{display:block;width:100%;height:100%;cursor:grab}
#hint{position:absolute;left:.5rem;bottom:.4rem;color:#57606a;font-size:12px;background:#fffc;padding:0 .3rem}
aside{overflow:auto;border-left:1px solid #d0d7de;padding:.6rem .9rem}
aside h2{font-size:1rem;margin:.2rem 0 .4rem}
aside h3{font-size:.9rem;margin:.9rem 0 .3rem;color:#57606a;text-transform:uppercase;letter-spacing:.03em}
pre{background:#f6f8fa;padding:.5rem;border-radius:6px;overflow:auto;font-size:12px;max-height:28rem;white-space:pre}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #d0d7de;padding:.1rem .4rem;text-align:left}
a.n{color:#0969da;cursor:pointer;text-decoration:none}a.n:hover{text-decoration:underline}
.tag{display:inline-block;padding:0 .4rem;border-radius:8px;color:#fff;font-size:12px}
img.plot{max-width:100%;border:1px solid #eee;margin:.3rem 0}
.legend span{display:inline-block;width:.8rem;height:.8rem;border-radius:50%;vertical-align:middle;margin:0 .2rem 0 .6rem}
</style></head><body><div id="app">
<header><h1 id="title"></h1><span id="summary"></span>
<span class="ctl"><button id="fit" title="show the whole tree (f)">Fit</button><button id="best" title="go to the best node (b)">Best</button>
<input id="find" size="7" placeholder="node #" title="type a node id and press Enter"></span>
<span class="legend" id="legend"></span></header>
<div id="view"><canvas id="tree" data-drawn="0"></canvas><div id="hint">drag: pan · wheel: zoom wide · shift+wheel: zoom tall · click: open · arrows: move</div></div>
<aside id="side"><div id="details"></div><h3>Top nodes</h3><div id="top"></div></aside>
</div>
<script type="application/json" id="tree-data">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("tree-data").textContent);
const N = D.nodes.length, ID = 0, PARENT = 1, OP = 2, ST = 3, MET = 4, PRUNED = 5;
const pos = new Map(); D.nodes.forEach((r, i) => pos.set(r[ID], i));
const kids = Array.from({length: N}, () => []), roots = [], par = new Int32Array(N).fill(-1);
D.nodes.forEach((r, i) => { const p = r[PARENT]; if (p !== null && pos.has(p)) { par[i] = pos.get(p); kids[par[i]].push(i); } else roots.push(i); });
const X = new Float64Array(N), Y = new Float64Array(N);
let maxX = 0, maxY = 0;
(function layout() {  // leaves left to right, parents centred over their children; iterative for deep chains
  let next = 0; const stack = [];
  for (let r = roots.length - 1; r >= 0; r--) { Y[roots[r]] = 1; stack.push([roots[r], 0]); }
  while (stack.length) {
    const top = stack[stack.length - 1], i = top[0];
    if (top[1] < kids[i].length) { const k = kids[i][top[1]++]; Y[k] = Y[i] + 1; stack.push([k, 0]); continue; }
    stack.pop();
    if (kids[i].length) { let s = 0; for (const k of kids[i]) s += X[k]; X[i] = s / kids[i].length; } else X[i] = next++;
    if (Y[i] > maxY) maxY = Y[i];
  }
  maxX = Math.max(0, next - 1);
})();
const rootX = roots.length ? roots.reduce((s, i) => s + X[i], 0) / roots.length : 0;
const good = D.nodes.filter(r => D.statuses[r[ST]] === "good" && r[MET] !== null).map(r => r[MET]);
const lo = good.length ? Math.min(...good) : 0, hi = good.length ? Math.max(...good) : 1;
const VIR = [[68,1,84],[59,82,139],[33,145,140],[94,201,98],[253,231,37]];
function viridis(t) { t = Math.min(1, Math.max(0, t)) * 4; const a = Math.floor(Math.min(t, 3.999)), f = t - a;
  const c = VIR[a].map((v, j) => Math.round(v + (VIR[a + 1][j] - v) * f)); return `rgb(${c})`; }
const STATUS_COLOR = {pending: "#8cb4e8", running: "#1f77b4", buggy: "#d62728", flagged: "#ff8c00", failed: "#7f7f7f", cancelled: "#c0c0c0"};
function color(i) { const r = D.nodes[i], st = D.statuses[r[ST]];
  if (st === "good" && r[MET] !== null) { let t = hi > lo ? (r[MET] - lo) / (hi - lo) : 1; if (D.direction === "minimize") t = 1 - t; return viridis(t); }
  return STATUS_COLOR[st] || "#999"; }
function fmt(v) { if (v === null || v === undefined) return "-"; if (typeof v !== "number") return String(v);
  return Number.isInteger(v) ? String(v) : String(+v.toPrecision(6)); }
function esc(s) { return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c])); }

document.getElementById("title").textContent = D.title;
const counts = {}; D.nodes.forEach(r => { const s = D.statuses[r[ST]]; counts[s] = (counts[s] || 0) + 1; });
document.getElementById("summary").textContent = `run ${D.run} · ${N} nodes (` + Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ") + `) · ${D.metric} (${D.direction})`;
document.getElementById("legend").innerHTML = `<span style="background:${viridis(0)}"></span>worse<span style="background:${viridis(1)}"></span>better` +
  Object.entries(STATUS_COLOR).filter(([k]) => counts[k]).map(([k, c]) => `<span style="background:${c}"></span>${k}`).join("");

const canvas = document.getElementById("tree"), ctx = canvas.getContext("2d"), view = document.getElementById("view");
let W = 0, H = 0, sx = 1, sy = 1, tx = 0, ty = 0, selected = -1, queued = false;
function resize() { const dpr = window.devicePixelRatio || 1; W = view.clientWidth || 800; H = view.clientHeight || 600;
  canvas.width = W * dpr; canvas.height = H * dpr; ctx.setTransform(dpr, 0, 0, dpr, 0, 0); }
function fit() { const m = 24; sx = (W - 2 * m) / Math.max(1, maxX); sy = Math.min(70, (H - 2 * m) / Math.max(1, maxY));
  tx = maxX ? m : W / 2; ty = m; draw(); }
const px = i => X[i] * sx + tx, py = i => Y[i] * sy + ty;
function draw() { queued = false; ctx.clearRect(0, 0, W, H);
  const r = Math.max(1.5, Math.min(7, sx * 0.35)), rx = rootX * sx + tx, ry = ty;
  ctx.strokeStyle = "#b0b0b0"; ctx.lineWidth = 1; ctx.beginPath();
  for (let i = 0; i < N; i++) { const x = px(i), y = py(i), p = par[i], x0 = p >= 0 ? px(p) : rx, y0 = p >= 0 ? py(p) : ry;
    if ((x < 0 && x0 < 0) || (x > W && x0 > W)) continue; ctx.moveTo(x0, y0); ctx.lineTo(x, y); }
  ctx.stroke();
  if (selected >= 0) { ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2.5; ctx.beginPath();
    for (let i = selected; i >= 0; i = par[i]) { const p = par[i]; ctx.moveTo(px(i), py(i)); ctx.lineTo(p >= 0 ? px(p) : rx, p >= 0 ? py(p) : ry); }
    ctx.stroke(); }
  ctx.fillStyle = "#777"; ctx.fillRect(rx - 5, ry - 5, 10, 10);
  let drawn = 0;
  for (let i = 0; i < N; i++) { const x = px(i), y = py(i); if (x < -r || x > W + r || y < -r || y > H + r) continue;
    drawn++; ctx.beginPath(); ctx.arc(x, y, r, 0, 6.2832);
    if (D.nodes[i][PRUNED]) { ctx.strokeStyle = color(i); ctx.lineWidth = 1.5; ctx.stroke(); } else { ctx.fillStyle = color(i); ctx.fill(); } }
  const ring = (i, c, w) => { if (i < 0) return; ctx.beginPath(); ctx.arc(px(i), py(i), r + 4, 0, 6.2832); ctx.strokeStyle = c; ctx.lineWidth = w; ctx.stroke(); };
  if (D.best !== null && pos.has(D.best)) ring(pos.get(D.best), "#d62728", 2);
  ring(selected, "#0969da", 3);
  if (sx > 28) { ctx.fillStyle = "#333"; ctx.font = "11px sans-serif"; ctx.textAlign = "center";
    for (let i = 0; i < N; i++) { const x = px(i), y = py(i); if (x > -20 && x < W + 20 && y > -20 && y < H + 20) ctx.fillText(D.nodes[i][ID], x, y - r - 3); } }
  canvas.dataset.drawn = drawn; }
function redraw() { if (!queued) { queued = true; requestAnimationFrame(draw); } }

let drag = null;
canvas.addEventListener("mousedown", e => { drag = {x: e.clientX, y: e.clientY, tx, ty, moved: false}; canvas.style.cursor = "grabbing"; });
window.addEventListener("mousemove", e => { if (!drag) return; const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
  if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true; tx = drag.tx + dx; ty = drag.ty + dy; redraw(); });
window.addEventListener("mouseup", e => { if (!drag) return; const click = !drag.moved; drag = null; canvas.style.cursor = "grab";
  if (click) { const b = canvas.getBoundingClientRect(), i = nearest(e.clientX - b.left, e.clientY - b.top); if (i >= 0) select(i, false); } });
canvas.addEventListener("wheel", e => { e.preventDefault(); const b = canvas.getBoundingClientRect(), f = Math.exp(-e.deltaY * 0.0015);
  if (e.shiftKey) { const y = e.clientY - b.top; ty = y - (y - ty) * f; sy *= f; } else { const x = e.clientX - b.left; tx = x - (x - tx) * f; sx *= f; }
  redraw(); }, {passive: false});
function nearest(x, y) { let best = -1, bd = Math.max(64, (sx * 0.35 + 4) ** 2);
  for (let i = 0; i < N; i++) { const d = (px(i) - x) ** 2 + (py(i) - y) ** 2; if (d < bd) { bd = d; best = i; } } return best; }

const cache = new Map();
async function chunk(k) { if (cache.has(k)) return cache.get(k); let data = D.chunks[k];
  if (D.encoding === "gzip") { let body;
    try { body = (await fetch("data:application/gzip;base64," + data)).body; }  // the browser's own base64 decoder
    catch (e) { body = new Blob([Uint8Array.from(atob(data), c => c.charCodeAt(0))]).stream(); }
    data = JSON.parse(await new Response(body.pipeThrough(new DecompressionStream("gzip"))).text()); }
  cache.set(k, data); return data; }
async function details(i) { const c = await chunk(Math.floor(i / D.chunk)); return c[String(D.nodes[i][ID])] || {}; }

function link(i) { const r = D.nodes[i]; return `<a class="n" data-i="${i}">#${r[ID]}</a>`; }
function tag(i) { return `<span class="tag" style="background:${color(i)}">${esc(D.statuses[D.nodes[i][ST]])}</span>`; }
function kv(obj) { return "<table>" + Object.entries(obj).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(typeof v === "object" ? JSON.stringify(v) : fmt(v))}</td></tr>`).join("") + "</table>"; }
let token = 0;
async function select(i, centre) {
  selected = i; const r = D.nodes[i], mine = ++token;
  if (location.hash !== `#node-${r[ID]}`) history.replaceState(null, "", `#node-${r[ID]}`);
  // Centre only a node off the view: fit() leaves every node 24 px inside it, and a tighter test
  // here scrolled half a fitted tree away whenever the node opened on was its first or last leaf.
  if (centre && (px(i) < 12 || px(i) > W - 12 || py(i) < 12 || py(i) > H - 12)) { tx += W / 2 - px(i); ty += H / 2 - py(i); }
  redraw();
  const path = []; for (let j = i; j >= 0; j = par[j]) path.unshift(j);
  const el = document.getElementById("details");
  el.innerHTML = `<h2>Node ${r[ID]} · ${esc(D.ops[r[OP]])} ${tag(i)} ${r[MET] !== null ? esc(D.metric) + " = <b>" + fmt(r[MET]) + "</b>" : ""}` +
    `${r[ID] === D.best ? " · best" : ""}${r[PRUNED] ? " · pruned" : ""}</h2>` +
    `<div>path: ${path.map(link).join(" → ")}</div>` + (kids[i].length ? `<div>children: ${kids[i].map(link).join(" ")}</div>` : "") + `<p>loading…</p>`;
  const d = await details(i); if (mine !== token) return;
  let h = el.innerHTML.replace("<p>loading…</p>", "");
  const facts = {}; for (const k of ["depth", "attempts", "secs", "exit", "timed_out", "value"]) if (d[k] !== undefined) facts[k === "secs" ? "seconds" : k] = d[k];
  h += kv(facts);
  if (d.error) h += `<h3>Error</h3><pre>${esc(d.error)}</pre>`;
  h += `<h3>Plan</h3><div>${esc(d.plan || "(none)")}</div>`;
  if (d.params) h += `<h3>Parameters</h3>${kv(d.params)}`;
  if (d.metrics) h += `<h3>Metrics</h3>${kv(d.metrics)}`;
  if (d.reviews) h += `<h3>Reviews</h3>` + d.reviews.map(kv).join("<br>");
  if (d.plots) h += `<h3>Plots</h3>` + d.plots.map(s => `<img class="plot" alt="plot" src="${esc(s)}">`).join("");
  h += `<h3>Code</h3><pre class="code">${esc(d.code || "(none)")}</pre>`;
  if (d.out) h += `<h3>Output (end)</h3><pre>${esc(d.out)}</pre>`;
  if (d.err) h += `<h3>Errors (end)</h3><pre>${esc(d.err)}</pre>`;
  el.innerHTML = h; el.dataset.node = r[ID];
}
document.getElementById("side").addEventListener("click", e => { const a = e.target.closest("a.n"); if (a) select(+a.dataset.i, true); });
document.getElementById("top").innerHTML = D.top.length ? "<table><tr><th>node</th><th>op</th><th>" + esc(D.metric) + "</th></tr>" +
  D.top.filter(id => pos.has(id)).map(id => { const i = pos.get(id); return `<tr><td>${link(i)}</td><td>${esc(D.ops[D.nodes[i][OP]])}</td><td>${fmt(D.nodes[i][MET])}</td></tr>`; }).join("") + "</table>" : "no valid node";
document.getElementById("fit").onclick = () => fit();
document.getElementById("best").onclick = () => { if (D.best !== null && pos.has(D.best)) select(pos.get(D.best), true); };
document.getElementById("find").addEventListener("keydown", e => { if (e.key === "Enter") { const id = parseInt(e.target.value, 10); if (pos.has(id)) select(pos.get(id), true); } });
window.addEventListener("keydown", e => { if (e.target.tagName === "INPUT" || selected < 0) { if (e.key === "f" && e.target.tagName !== "INPUT") fit(); return; }
  let j = -1; const p = par[selected], sib = p >= 0 ? kids[p] : roots, k = sib.indexOf(selected);
  if (e.key === "ArrowUp") j = p; else if (e.key === "ArrowDown") j = kids[selected].length ? kids[selected][0] : -1;
  else if (e.key === "ArrowLeft") j = k > 0 ? sib[k - 1] : -1; else if (e.key === "ArrowRight") j = k < sib.length - 1 ? sib[k + 1] : -1;
  else if (e.key === "f") fit(); else if (e.key === "b") document.getElementById("best").click();
  if (j >= 0) { e.preventDefault(); select(j, true); } });
window.addEventListener("resize", () => { resize(); redraw(); });
window.addEventListener("hashchange", fromHash);
function fromHash() { const m = /^#node-(\d+)$/.exec(location.hash); const id = m ? +m[1] : D.best;
  if (id !== null && pos.has(id)) select(pos.get(id), true); }
resize(); fit(); if (N) fromHash(); else document.getElementById("details").textContent = "This run has no nodes yet.";
</script></body></html>
"""
