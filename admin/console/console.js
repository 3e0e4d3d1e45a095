// Strata console: renders /api/snapshot. No dependencies, no network access beyond the
// admin listener itself.
"use strict";

const KIND_LABEL = { "remote": "remote only", "local+remote": "local and remote", "local": "local only" };

function fmtBytes(n) {
  if (n < 1024) return n + " B";
  const u = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(n < 10 ? 1 : 0) + " " + u[i];
}

function fmtAge(tsMs, nowMs) {
  if (tsMs == null || tsMs < 0) return "age unknown";
  let s = Math.max(0, Math.round((nowMs - tsMs) / 1000));
  if (s < 120) return s + "s old";
  if (s < 7200) return Math.round(s / 60) + "m old";
  if (s < 172800) return Math.round(s / 3600) + "h old";
  return Math.round(s / 86400) + "d old";
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "style") e.style.cssText = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function renderBar(p, nowMs) {
  const bar = el("div", { class: "bar", "data-partition": p.partition });
  const total = p.highWatermark - p.logStartOffset;
  for (const r of p.ranges || []) {
    const n = r.end - r.start;
    const pct = total > 0 ? (100 * n / total) : 0;
    const label = `${KIND_LABEL[r.kind]}: offsets ${r.start}–${r.end - 1}, ${fmtBytes(r.bytes)}, ${fmtAge(r.oldestTimestamp, nowMs)}`;
    const seg = el("span", {
      class: "seg", "data-kind": r.kind, "data-start": r.start, "data-end": r.end, "data-bytes": r.bytes,
      "data-pct": pct.toFixed(3), title: label, "aria-label": label, style: `width:${pct}%`,
    }, `${fmtBytes(r.bytes)} · ${fmtAge(r.oldestTimestamp, nowMs)}`);
    bar.append(seg);
  }
  return bar;
}

function renderTopics(snap) {
  const root = document.getElementById("topics");
  const nowMs = Date.parse(snap.time) || Date.now();
  root.replaceChildren();
  if (!snap.topics || snap.topics.length === 0) {
    root.append(el("p", { class: "muted" }, "No topics."));
    return;
  }
  for (const t of snap.topics) {
    const box = el("div", { class: "topic", "data-topic": t.name });
    box.append(el("h3", {}, t.name, " ", el("span", { class: "muted" },
      `${t.partitions.length} partition(s)` + (t.remoteStorage ? " · tiered" : " · local only"))));
    const tbl = el("table", { class: "partitions" });
    tbl.append(el("thead", {}, el("tr", {},
      el("th", {}, "P"), el("th", { class: "num" }, "Log start"), el("th", { class: "num" }, "Local start"),
      el("th", { class: "num" }, "Remote end"), el("th", { class: "num" }, "High watermark"),
      el("th", { class: "num" }, "Local"), el("th", { class: "num" }, "Remote"),
      el("th", { class: "num" }, "Upload lag"), el("th", {}, "Offsets"))));
    const body = el("tbody");
    for (const p of t.partitions) {
      body.append(el("tr", { "data-partition": p.partition },
        el("td", {}, p.partition, p.cleanableRatio >= 0 ?
          el("span", { class: "muted cleanable", title: "dirty ratio (compaction)" }, ` dirty ${p.cleanableRatio.toFixed(2)}`) : ""),
        el("td", { class: "num log-start" }, p.logStartOffset),
        el("td", { class: "num local-start" }, p.localStartOffset),
        el("td", { class: "num remote-end" }, p.remoteEndOffset < 0 ? "–" : p.remoteEndOffset),
        el("td", { class: "num hw" }, p.highWatermark),
        el("td", { class: "num" }, fmtBytes(p.localBytes)),
        el("td", { class: "num" }, fmtBytes(p.remoteBytes)),
        el("td", { class: "num" }, fmtBytes(p.uploadLagBytes)),
        el("td", { style: "width:45%" }, renderBar(p, nowMs))));
    }
    tbl.append(body);
    box.append(tbl);
    root.append(box);
  }
}

function renderGroups(snap) {
  const body = document.querySelector("#groups tbody");
  body.replaceChildren();
  if (!snap.groups || snap.groups.length === 0) {
    body.append(el("tr", {}, el("td", { colspan: 5, class: "muted" }, "No consumer groups.")));
    return;
  }
  for (const g of snap.groups) {
    const parts = el("div");
    for (const p of g.partitions || []) {
      parts.append(el("div", { class: "gp", "data-topic": p.topic, "data-partition": p.partition, "data-lag": p.lag },
        `${p.topic}-${p.partition}: ${p.committed} / ${p.highWatermark < 0 ? "?" : p.highWatermark} / lag ${p.lag < 0 ? "?" : p.lag}`));
    }
    body.append(el("tr", { "data-group": g.group },
      el("td", {}, g.group), el("td", { class: "state" }, g.state), el("td", { class: "num" }, g.members),
      el("td", { class: "num lag" }, g.totalLag), el("td", {}, parts)));
  }
}

function renderHealth(snap) {
  const rd = snap.readiness || { status: "error" };
  const h = document.getElementById("health");
  h.dataset.status = rd.status;
  h.textContent = rd.status;
  const reasons = document.getElementById("reasons");
  reasons.replaceChildren(...(rd.reasons || []).map(r => el("li", {}, r)));
  document.getElementById("cluster").textContent = `cluster ${snap.clusterId} · node ${snap.nodeId} · ${snap.addr}`;
  const hh = snap.health || {};
  const rows = [
    ["Data dir", hh.dataDir],
    ["Disk free", hh.diskTotalBytes > 0 ? `${fmtBytes(hh.diskFreeBytes)} of ${fmtBytes(hh.diskTotalBytes)}` : "unknown"],
    ["Tiered storage", hh.tieringEnabled ? "enabled" : "disabled"],
    ["Bucket", hh.tieringEnabled ? (hh.bucketError ? "unreachable: " + hh.bucketError : "reachable") : "–"],
    ["Upload backlog", fmtBytes(hh.uploadBacklogBytes || 0)],
    ["Connections", hh.connections],
  ];
  document.querySelector("#broker tbody").replaceChildren(...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));
}

async function refresh() {
  try {
    const resp = await fetch("api/snapshot", { cache: "no-store" });
    const snap = await resp.json();
    if (!resp.ok) {
      renderHealth({ readiness: snap, health: {} });
      return;
    }
    renderHealth(snap);
    renderTopics(snap);
    renderGroups(snap);
    document.body.dataset.loaded = "true";
  } catch (e) {
    const h = document.getElementById("health");
    h.dataset.status = "error";
    h.textContent = "admin API unreachable";
  }
}

refresh();
setInterval(() => { if (document.getElementById("auto").checked) refresh(); }, 5000);
