// faultline timeline: zoom, filters, tooltips, jumps (inlined into timeline.html).
//
// The SVG is complete without this script. Bars, bands and message lines sit in
// #world, drawn in milliseconds and scaled by one transform; text and markers sit in
// #overlay and carry their time in data-t, so a zoom is: one transform, one pass over
// the overlay items, and a redraw of the axis. Nothing here attaches a handler per
// element.
(function () {
  "use strict";
  const T = TIMELINE;
  const $ = (id) => document.getElementById(id);
  const scroller = $("scroller"), plot = $("plot"), axis = $("axis"), world = $("world");
  const ticks = $("ticks"), gridlines = $("gridlines"), tip = $("tip");
  const NS = "http://www.w3.org/2000/svg";
  const CHAR_W = 6.1; // average width of an 11px character, when a label cannot be measured
  const LABEL_GAP = 6; // px between a label and whatever it must not touch
  const MAX_WIDTH = 400000; // px: browsers slow down on wider SVGs
  let k = T.k0;

  // Overlay items, read once: {el, t (ms), w (ms, the bar a label belongs to; -1 for
  // markers and free labels), px (a label's own width, measured once), dx, lane (labels
  // only: the labels sharing its row), shown}. The marks of messages (drop crosses) are
  // kept apart: while messages are drawn as density they are hidden, and are placed again
  // only when they show (a zoom then touches far fewer elements).
  const placed = [], msgMarks = [], lanes = new Map();
  for (const el of document.querySelectorAll("#overlay [data-t], #axis [data-t]")) {
    const item = { el, t: +el.dataset.t, w: el.dataset.w === undefined ? -1 : +el.dataset.w,
      px: 0, dx: +(el.dataset.dx || 0), lane: null, shown: true, x: 0 };
    if (el.tagName === "text") {
      // Measured before anything is hidden; a label's width does not change with zoom.
      item.px = el.getComputedTextLength() || +(el.dataset.n || 0) * CHAR_W;
      const key = (el.closest("#axis") ? "a" : "p") + el.getAttribute("y");
      if (!lanes.has(key)) lanes.set(key, []);
      item.lane = lanes.get(key);
      item.lane.push(item);
    }
    (el.closest("#msgmarks") ? msgMarks : placed).push(item);
  }
  let marksK = T.k0; // the zoom msgMarks are placed for
  // Every item at x = pad + t·k + dx for the current zoom. A label shows only when it fits
  // its bar (if it has one) and does not run into the label before it on its row: rows
  // are swept left to right, keeping the earlier label.
  function place(items) {
    const rows = new Set();
    for (const item of items) {
      item.x = T.pad + item.t * k + item.dx;
      item.want = item.w < 0 || item.w * k >= item.px + LABEL_GAP;
      if (item.lane) rows.add(item.lane);
    }
    for (const row of rows) {
      row.sort((a, b) => a.x - b.x);
      let end = -Infinity;
      for (const item of row) {
        if (!item.want) continue;
        if (item.x < end + LABEL_GAP) item.want = false;
        else end = item.x + item.px;
      }
    }
    for (const item of items) {
      if (item.want !== item.shown) { item.el.style.display = item.want ? "" : "none"; item.shown = item.want; }
      if (item.want) item.el.setAttribute("x", item.x.toFixed(1));
    }
  }
  const patterns = Array.from(document.querySelectorAll("pattern.zp"));

  function fitK() {
    const room = scroller.clientWidth - T.labelW - T.pad - T.padRight - 2;
    return Math.max(room, 200) / T.end;
  }
  const minK = () => Math.min(fitK(), T.k0) / 2;
  const maxK = () => Math.min(400, (MAX_WIDTH - T.pad - T.padRight) / T.end);

  function niceStep(minMs) {
    const p = Math.pow(10, Math.floor(Math.log10(minMs)));
    for (const m of [1, 2, 5, 10]) if (m * p >= minMs) return m * p;
    return 10 * p;
  }
  function fmt(t, step) {
    const d = step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step)));
    return t.toFixed(d);
  }

  function drawAxis(width) {
    const step = niceStep(90 / k);
    const n = Math.floor(T.end / step);
    const h = plot.height.baseVal.value;
    const tickFrag = document.createDocumentFragment();
    const gridFrag = document.createDocumentFragment();
    for (let i = 0; i <= n && i <= 5000; i++) {
      const t = i * step, x = (T.pad + t * k).toFixed(1);
      const tl = document.createElementNS(NS, "line");
      tl.setAttribute("x1", x); tl.setAttribute("x2", x);
      tl.setAttribute("y1", 30); tl.setAttribute("y2", 38);
      const tx = document.createElementNS(NS, "text");
      tx.setAttribute("x", x); tx.setAttribute("y", 28);
      tx.setAttribute("text-anchor", i === 0 ? "start" : "middle");
      tx.textContent = fmt(t, step);
      tickFrag.append(tl, tx);
      const gl = document.createElementNS(NS, "line");
      gl.setAttribute("x1", x); gl.setAttribute("x2", x);
      gl.setAttribute("y1", 0); gl.setAttribute("y2", h);
      gridFrag.append(gl);
    }
    ticks.replaceChildren(tickFrag);
    gridlines.replaceChildren(gridFrag);
  }

  // Set the zoom to `next` px/ms, keeping time `anchorT` at viewport offset `anchorX`.
  function setK(next, anchorT, anchorX) {
    k = Math.min(maxK(), Math.max(minK(), next));
    const width = Math.ceil(T.pad + T.end * k + T.padRight);
    plot.setAttribute("width", width);
    axis.setAttribute("width", width);
    world.setAttribute("transform", "translate(" + T.pad + " 0) scale(" + k + " 1)");
    const unstretch = "scale(" + (1 / k) + " 1) rotate(45)";
    for (const p of patterns) p.setAttribute("patternTransform", unstretch);
    plot.dataset.k = k; // read by the browser tests, which check where items are drawn
    place(placed);
    drawAxis(width);
    $("zoom-level").textContent = k >= 1 ? k.toFixed(1) + " px/ms" : (1 / k).toFixed(1) + " ms/px";
    if (anchorT !== undefined) {
      scroller.scrollLeft = T.labelW + T.pad + anchorT * k - anchorX;
    }
    showMessages();
  }

  // Messages at scale: only the chunks overlapping the view are drawn, and when more
  // than T.linesMax messages are in view their density replaces the lines.
  const chunks = Array.from(document.querySelectorAll("#msgs g.mb"))
    .map((g) => [g, +g.dataset.t0, +g.dataset.t1, +g.dataset.n]);
  function visibleWindow() {
    const t0 = (scroller.scrollLeft - T.labelW - T.pad) / k;
    const t1 = t0 + scroller.clientWidth / k;
    return [t0, t1];
  }
  function showMessages() {
    const [a, b] = visibleWindow();
    let inView = 0;
    for (const [, t0, t1, n] of chunks) if (t1 >= a && t0 <= b) inView += n;
    const dense = inView > T.linesMax;
    plot.classList.toggle("dense", dense);
    if (dense) return;
    if (marksK !== k) { place(msgMarks); marksK = k; }
    for (const [g, t0, t1] of chunks) g.classList.toggle("off", t1 < a || t0 > b);
  }
  let scrollQueued = false;
  scroller.addEventListener("scroll", () => {
    if (scrollQueued) return;
    scrollQueued = true;
    requestAnimationFrame(() => { scrollQueued = false; showMessages(); });
  }, { passive: true });

  // The time at the middle of what is visible, to zoom around it.
  function centre() {
    const x = scroller.clientWidth / 2;
    const t = (scroller.scrollLeft + x - T.labelW - T.pad) / k;
    return [Math.max(0, Math.min(T.end, t)), x];
  }
  function zoomBy(f) {
    const [t, x] = centre();
    setK(k * f, t, x);
  }
  $("zoom-in").addEventListener("click", () => zoomBy(2));
  $("zoom-out").addEventListener("click", () => zoomBy(0.5));
  $("zoom-fit").addEventListener("click", () => { setK(fitK()); scroller.scrollLeft = 0; });
  scroller.addEventListener("wheel", (e) => {
    if (!(e.ctrlKey || e.metaKey)) return;
    e.preventDefault();
    const x = e.clientX - scroller.getBoundingClientRect().left;
    const t = (scroller.scrollLeft + x - T.labelW - T.pad) / k;
    setK(k * Math.exp(-e.deltaY * 0.0025), t, x);
  }, { passive: false });

  // Filters: one class on the plot each; CSS does the hiding.
  const msgs = $("show-msgs");
  msgs.addEventListener("change", () => plot.classList.toggle("no-msgs", !msgs.checked));
  for (const box of document.querySelectorAll(".label-filter")) {
    box.addEventListener("change", () => plot.classList.toggle("hide-l" + box.dataset.label, !box.checked));
  }
  const syncs = $("show-syncs");
  syncs.addEventListener("change", () => plot.classList.toggle("show-syncs", syncs.checked));

  // Tooltips: one delegated listener reads data-tip; a click pins the tooltip.
  let pinned = null;
  function show(el, e) {
    const lines = el.dataset.tip.split("\n");
    tip.replaceChildren(...lines.map((line, i) => {
      const d = document.createElement("div");
      if (i === 0) d.className = "h";
      d.textContent = line;
      return d;
    }));
    tip.hidden = false;
    placeTip(e);
  }
  function placeTip(e) {
    const pad = 14, r = tip.getBoundingClientRect();
    let x = e.clientX + pad, y = e.clientY + pad;
    if (x + r.width > window.innerWidth - 4) x = Math.max(4, e.clientX - pad - r.width);
    if (y + r.height > window.innerHeight - 4) y = Math.max(4, e.clientY - pad - r.height);
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  }
  plot.addEventListener("mouseover", (e) => {
    if (pinned) return;
    const el = e.target.closest("[data-tip]");
    if (el) show(el, e); else tip.hidden = true;
  });
  // Causality: hovering an operation lights up the messages that serve it and the lost
  // writes it made (each carries data-op, its operation's index).
  let serving = [];
  function lightServing(opId) {
    for (const el of serving) el.classList.remove("serving");
    serving = opId === null ? [] : Array.from(plot.querySelectorAll('[data-op="' + opId + '"]'));
    for (const el of serving) el.classList.add("serving");
  }
  plot.addEventListener("mouseover", (e) => {
    const op = e.target.closest("rect.op");
    lightServing(op ? op.id.slice(3) : null);
  });
  plot.addEventListener("mousemove", (e) => { if (!pinned && !tip.hidden) placeTip(e); });
  plot.addEventListener("mouseleave", () => { if (!pinned) tip.hidden = true; });
  document.addEventListener("click", (e) => {
    if (tip.contains(e.target)) return;
    const el = e.target.closest("#plot [data-tip]");
    if (el && pinned !== el) {
      pinned = el; show(el, e); tip.classList.add("pinned");
    } else {
      pinned = null; tip.classList.remove("pinned"); tip.hidden = true;
    }
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { pinned = null; tip.classList.remove("pinned"); tip.hidden = true; }
  });

  // Jumps: zoom in until the target is wide enough to read, centre it, flash it.
  function jump(id) {
    const el = $(id);
    if (!el) return;
    let t0, w = 0;
    if (el.dataset.t !== undefined) t0 = +el.dataset.t;
    else { t0 = +el.getAttribute("x"); w = +el.getAttribute("width"); }
    const want = Math.max(k, Math.min(maxK(), 160 / Math.max(w, 0.5)));
    const x = scroller.clientWidth / 2;
    setK(want, t0 + w / 2, x);
    el.scrollIntoView({ block: "center", inline: "nearest" });
    scroller.scrollLeft = T.labelW + T.pad + (t0 + w / 2) * k - x;
    el.classList.remove("flash");
    void el.getBoundingClientRect();
    el.classList.add("flash");
  }
  for (const b of document.querySelectorAll("button.jump")) {
    b.addEventListener("click", () => jump(b.dataset.jump));
  }
  const flagged = Array.from(document.querySelectorAll("#ops .op.hl"))
    .sort((a, b) => a.getAttribute("x") - b.getAttribute("x"));
  let nextFlag = 0;
  function jumpNext() {
    if (!flagged.length) return;
    jump(flagged[nextFlag % flagged.length].id);
    nextFlag++;
  }
  const nf = $("next-flag");
  if (nf) nf.addEventListener("click", jumpNext);

  document.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.target.tagName === "INPUT") return;
    if (e.key === "+" || e.key === "=") zoomBy(1.5);
    else if (e.key === "-" || e.key === "_") zoomBy(1 / 1.5);
    else if (e.key === "0") { setK(fitK()); scroller.scrollLeft = 0; }
    else if (e.key === "n") jumpNext();
    else if (e.key === "m") { msgs.checked = !msgs.checked; msgs.dispatchEvent(new Event("change")); }
  });

  // A view can be linked: #t=300-450 shows that window (ms), #op=12 jumps to an operation.
  function fromHash() {
    const h = decodeURIComponent(location.hash.slice(1));
    let g;
    if ((g = /^t=([0-9.]+)-([0-9.]+)$/.exec(h)) && +g[2] > +g[1]) {
      showWindow(+g[1], +g[2]);
    } else if ((g = /^op=([0-9]+)$/.exec(h))) {
      jump("op-" + g[1]);
    }
  }
  window.addEventListener("hashchange", fromHash);
  // Zoom so that times a..b fill the plot's visible width, a at its left edge (just right
  // of the sticky lane names).
  function showWindow(a, b) {
    const room = scroller.clientWidth - T.labelW - T.pad - T.padRight - 2;
    setK(room / (b - a));
    scroller.scrollLeft = T.pad + a * k;
    showMessages();
  }
  // A failing seed opens on the window around its first highlighted operation (the whole
  // run is the "fit" button, or 0, away); a link with a view opens on that view.
  function openingView() {
    const first = flagged[0];
    if (location.hash.length > 1 || !first) return false;
    const t0 = +first.getAttribute("x"), w = +first.getAttribute("width");
    const span = Math.max(w * 3, T.end / 12);
    const a = Math.max(0, t0 - span), b = Math.min(T.end, t0 + w + span);
    showWindow(a, b);
    const note = $("opening-view");
    if (note) note.hidden = false;
    return true;
  }
  setK(fitK());
  if (!openingView()) fromHash();
  $("zoom-fit").addEventListener("click", () => { const n = $("opening-view"); if (n) n.hidden = true; });
})();
