// fscti console: the live list of a domain's extensions (docs/console.md). No library.
// Model: rows by extension; the stream (server-sent events) sends a snapshot, then the
// changed extensions' live parts. Repaints are coalesced (at most one per REPAINT_MS) and
// only the rows on screen are in the DOM. Durations tick on FreeSWITCH's clock: every message
// carries its `now` (µs), and fsNow() is the browser's clock plus that offset.
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("console-config").textContent);
  var ROW_H = 46, REPAINT_MS = 150, OVERSCAN = 4;
  var rows = new Map();          // ext -> row
  var sups = [];                 // supervisions
  var order = [];                // filtered, sorted extensions
  var offsetMs = 0;              // FreeSWITCH's clock minus ours
  var dirtyOrder = true, dirty = true, scheduled = false, lastPaint = 0;
  var list = document.getElementById("list"), spacer = document.getElementById("spacer");
  var $ = function (id) { return document.getElementById(id); };
  window.fsctiConsole = {rows: rows, stats: {updates: 0, paints: 0, lastUpdateAt: 0}};

  function fsNowUs() { return (Date.now() + offsetMs) * 1000; }
  function setClock(nowUs) { if (nowUs) offsetMs = nowUs / 1000 - Date.now(); }
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }
  function num(s) { var n = Number(s); return isFinite(n) ? n : 0; }
  function dur(fromUs) {
    var s = Math.max(0, Math.floor((fsNowUs() - num(fromUs)) / 1e6));
    var h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
    return (h ? h + ":" + (m < 10 ? "0" : "") : "") + m + ":" + (r < 10 ? "0" : "") + r;
  }

  function stateOf(r) {
    if (r.dis) return "disabled";
    var calls = r.calls || [];
    for (var i = 0; i < calls.length; i++) if (num(calls[i].a) > 0) return "oncall";
    if (calls.length) return "ringing";
    return r.reg ? "registered" : "unregistered";
  }
  var LABEL = {disabled: "disabled", oncall: "on a call", ringing: "ringing",
               registered: "registered", unregistered: "unregistered"};
  var RANK = {oncall: 0, ringing: 1, registered: 2, unregistered: 3, disabled: 4};

  // --- model updates -----------------------------------------------------------------------
  function snapshot(s) {
    rows.clear();
    s.rows.forEach(function (r) { rows.set(r.x, r); });
    orderKey = "";
    sups = s.sups || [];
    setClock(s.now);
    changed(true);
  }
  function update(u) {
    setClock(u.now);
    u.rows.forEach(function (p) {
      var r = rows.get(p.x);
      if (!r) { r = {x: p.x, n: "", a: "", dis: false}; rows.set(p.x, r); }
      r.reg = p.reg; r.calls = p.calls;
    });
    window.fsctiConsole.stats.updates += 1;
    window.fsctiConsole.stats.lastUpdateAt = Date.now();
    changed(true);
  }
  function changed(reorder) {
    if (reorder) dirtyOrder = true;
    dirty = true;
    schedule();
  }
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    var wait = Math.max(0, REPAINT_MS - (Date.now() - lastPaint));
    setTimeout(function () { scheduled = false; requestAnimationFrame(paint); }, wait);
  }

  // --- ordering, counts --------------------------------------------------------------------
  function longest(r) {
    var c = r.calls || [], m = Infinity;
    for (var i = 0; i < c.length; i++) m = Math.min(m, num(c[i].c));
    return m;
  }
  var collate = new Intl.Collator(undefined, {numeric: true}).compare;
  var cmp = {
    x: function (a, b) { return collate(a.x, b.x); },
    n: function (a, b) { return collate(a.n || "~", b.n || "~") || collate(a.x, b.x); },
    state: function (a, b) { return RANK[a._st] - RANK[b._st] || collate(a.x, b.x); },
    dur: function (a, b) { return longest(a) - longest(b) || collate(a.x, b.x); }
  };
  var orderKey = "";
  function reorder() {
    var q = $("search").value.trim().toLowerCase(), f = $("filter").value, by = $("sort").value;
    var counts = {registered: 0, oncall: 0, ringing: 0, unregistered: 0, disabled: 0};
    // Sorted by number or name with no filter, a state change moves no row: keep the order
    // (10,000 rows are not re-sorted on every update), only count again.
    var key = by + "\n" + f + "\n" + q + "\n" + rows.size;
    var stable = !f && !q && (by === "x" || by === "n") && key === orderKey;
    var out = stable ? null : [];
    rows.forEach(function (r) {
      var st = r._st = stateOf(r);
      if (st !== "registered") counts[st] += 1;
      if (r.reg && !r.dis) counts.registered += 1;
      if (stable) return;
      if (f && (f === "registered" ? !(r.reg && !r.dis) : st !== f)) return;
      if (q && r.x.toLowerCase().indexOf(q) < 0 && (r.n || "").toLowerCase().indexOf(q) < 0 &&
          (r.a || "").toLowerCase().indexOf(q) < 0) return;
      out.push(r);
    });
    if (!stable) {
      out.sort(cmp[by] || cmp.x);
      order = out;
      orderKey = key;
    }
    Object.keys(counts).forEach(function (k) { $("n-" + k).textContent = counts[k]; });
    $("shown").textContent = order.length + " of " + rows.size + " shown";
    spacer.style.height = (order.length * ROW_H) + "px";
  }

  // --- rendering (only the rows on screen) -------------------------------------------------
  var MODE_LABEL = {listen: "Listen", whisper_extension: "Whisper",
                    whisper_far_end: "Whisper far", barge: "Barge"};
  var MODE_TITLE = {listen: "listen: nobody hears you",
                    whisper_extension: "whisper to the extension: only it hears you",
                    whisper_far_end: "whisper to the far end: only the other party hears you",
                    barge: "barge: both hear you (three-way)"};
  function callHtml(r, c) {
    var up = num(c.a) > 0;
    var st = up ? "talking" : (c.dir === "in" ? "ringing" : "calling");
    var h = '<span class="call ' + (up ? "up" : "ring") + '" data-uuid="' + esc(c.u) + '">' +
      '<span class="dir" title="' + (c.dir === "in" ? "received" : "placed") + '">' +
      (c.dir === "in" ? "&#8601;" : "&#8599;") + '</span> <b class="other">' + esc(c.num) +
      '</b> <span class="cstate">' + st + '</span> <span class="dur" data-from="' + esc(c.c) +
      '"></span>';
    if (cfg.canAct) {
      h += ' <span class="acts">';
      cfg.modes.forEach(function (m) {
        h += '<button class="act" data-act="supervise" data-mode="' + m + '" data-uuid="' +
          esc(c.u) + '" data-x="' + esc(r.x) + '" title="' + MODE_TITLE[m] + '">' +
          MODE_LABEL[m] + '</button>';
      });
      h += '<button class="act danger" data-act="hangup" data-uuid="' + esc(c.u) +
        '" data-x="' + esc(r.x) + '">Hang up</button></span>';
    }
    return h + '</span>';
  }
  function supText(r) {
    var out = [];
    sups.forEach(function (s) {
      if (s.x === r.x) out.push("supervised by " + s.sup + " (" + s.mode + ")");
      if (s.sup === r.x) out.push("supervising " + (s.x || s.u) + " (" + s.mode + ")");
    });
    return out.join("; ");
  }
  function rowHtml(r) {
    var reg = r.reg, st = r._st || stateOf(r);
    var regHtml = reg ? '<span class="ip">' + esc(reg.ip) + (reg.port ? ":" + esc(reg.port) : "") +
      '</span> <span class="exp" data-exp="' + esc(reg.exp) + '"></span> <span class="ua">' +
      esc(reg.ua) + '</span>' + (reg.n > 1 ? ' <span class="nb">×' + reg.n + '</span>' : "")
      : '<span class="none">—</span>';
    var calls = (r.calls || []).map(function (c) { return callHtml(r, c); }).join("");
    var sup = supText(r);
    return '<div class="row st-' + st + '" data-x="' + esc(r.x) + '">' +
      '<span class="c-ext"><b class="ext">' + esc(r.x) + '</b> <span class="name">' + esc(r.n) +
      '</span>' + (r.a ? ' <span class="alias">(' + esc(r.a) + ')</span>' : "") + '</span>' +
      '<span class="c-state"><span class="badge">' + LABEL[st] + '</span>' +
      (sup ? '<span class="sup">' + esc(sup) + '</span>' : "") + '</span>' +
      '<span class="c-reg">' + regHtml + '</span><span class="c-calls">' + calls + '</span></div>';
  }
  function expires(exp) {
    if (!num(exp)) return "";
    var s = Math.round((num(exp) - fsNowUs()) / 1e6);
    return s > 0 ? "expires in " + (s >= 120 ? Math.floor(s / 60) + " min" : s + " s") : "expiring";
  }
  var shown = new Map();   // ext -> {el, html}: the rows in the DOM, replaced only when changed
  function paint() {
    lastPaint = Date.now();
    if (dirtyOrder) { reorder(); dirtyOrder = false; }
    var first = Math.max(0, Math.floor(list.scrollTop / ROW_H) - OVERSCAN);
    var last = Math.min(order.length, Math.ceil((list.scrollTop + list.clientHeight) / ROW_H) + OVERSCAN);
    var keep = new Map(), tmp = document.createElement("div");
    for (var i = first; i < last; i++) {
      var r = order[i], html = rowHtml(r), had = shown.get(r.x);
      // positions are set through the CSSOM (the page's CSP allows no inline style attribute)
      if (had && had.html === html) {
        if (had.top !== i) { had.el.style.top = (i * ROW_H) + "px"; had.top = i; }
        keep.set(r.x, had); shown.delete(r.x); continue;
      }
      tmp.innerHTML = html;
      var el = tmp.firstChild;
      fillTimes(el);
      el.style.top = (i * ROW_H) + "px";
      if (had) { spacer.replaceChild(el, had.el); shown.delete(r.x); } else spacer.appendChild(el);
      keep.set(r.x, {el: el, html: html, top: i});
    }
    shown.forEach(function (v) { spacer.removeChild(v.el); });
    shown = keep;
    renderSups();
    dirty = false;
    window.fsctiConsole.stats.paints += 1;
    window.fsctiConsole.stats.lastPaintAt = Date.now();
  }
  // durations and expiries: filled in after a row is drawn, and for what is on screen once a
  // second (their text is not part of the row's html, so ticking never redraws a row)
  function fillTimes(root) {
    var d = root.querySelectorAll(".dur");
    for (var i = 0; i < d.length; i++) d[i].textContent = dur(d[i].getAttribute("data-from"));
    var e = root.querySelectorAll(".exp");
    for (i = 0; i < e.length; i++) e[i].textContent = expires(e[i].getAttribute("data-exp"));
  }
  function tick() { fillTimes(spacer); }
  function renderSups() {
    var ul = $("sups"), html = "";
    sups.forEach(function (s) {
      html += '<li data-id="' + esc(s.id) + '"><b>' + esc(s.sup) + '</b> → ' + esc(s.x || s.u) +
        ' <span class="mode">' + esc(s.mode) + '</span> <span class="astate">' + esc(s.state) + '</span>';
      if (cfg.canAct && s.state === "succeeded") {
        cfg.modes.forEach(function (m) {
          if (m !== s.mode) html += ' <button class="act small" data-act="mode" data-id="' +
            esc(s.id) + '" data-mode="' + m + '">' + MODE_LABEL[m] + '</button>';
        });
      }
      html += '</li>';
    });
    ul.innerHTML = html || '<li class="none">none</li>';
  }

  // --- actions -----------------------------------------------------------------------------
  var pendingConfirm = null;
  function confirmThen(text, fn) {
    $("confirm-text").textContent = text;
    $("confirm").hidden = false;
    pendingConfirm = fn;
    $("confirm-yes").focus();
  }
  $("confirm-yes").addEventListener("click", function () {
    $("confirm").hidden = true; var fn = pendingConfirm; pendingConfirm = null; if (fn) fn();
  });
  $("confirm-no").addEventListener("click", function () { $("confirm").hidden = true; pendingConfirm = null; });

  function post(path, body) {
    return fetch(path, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": cfg.csrf},
      body: JSON.stringify(body)}).then(function (r) {
      return r.json().then(function (j) { return {status: r.status, body: j}; });
    });
  }
  function track(label, promise) {
    var li = document.createElement("li");
    li.className = "action queued";
    li.innerHTML = '<span class="what"></span> <span class="astate">queued</span> <span class="why"></span>';
    li.querySelector(".what").textContent = label;
    $("actions").insertBefore(li, $("actions").firstChild);
    function show(state, why) {
      li.className = "action " + state;
      li.querySelector(".astate").textContent = state;
      li.querySelector(".why").textContent = why || "";
    }
    promise.then(function (res) {
      if (res.status !== 202) {
        var d = res.body.details ? JSON.stringify(res.body.details) : "";
        show("failed", (res.body.message || "refused") + (d && d !== "{}" ? " " + d : ""));
        return;
      }
      li.setAttribute("data-id", res.body.id);
      (function poll() {
        fetch("/console/api/actions/" + encodeURIComponent(res.body.id), {credentials: "same-origin"})
          .then(function (r) { return r.json(); }).then(function (a) {
            var st = a.state;
            if (st === "sending" || st === "running") st = "sent";
            show(st, a.error || (a.state === "succeeded" ? a.reply : ""));
            if (a.state !== "succeeded" && a.state !== "failed") setTimeout(poll, 400);
          }, function () { setTimeout(poll, 1000); });
      })();
    }, function (err) { show("failed", String(err)); });
  }
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("button.act") : null;
    if (!b || !cfg.canAct) return;
    var act = b.getAttribute("data-act"), uuid = b.getAttribute("data-uuid"), x = b.getAttribute("data-x");
    if (act === "hangup") {
      confirmThen("Hang up the call of " + x + "?", function () {
        track("hang up " + x, post("/console/api/calls/" + encodeURIComponent(uuid) + "/hangup", {cause: "MANAGER_REQUEST"}));
      });
    } else if (act === "supervise") {
      var me = ($("myphone").value || "").trim(), mode = b.getAttribute("data-mode");
      if (!me) { $("myphone").focus(); $("myphone").classList.add("need"); return; }
      try { localStorage.setItem("fscti.myphone", me); } catch (e) { /* private mode */ }
      confirmThen(MODE_LABEL[mode] + " on " + x + "'s call, ringing your phone " + me + "?", function () {
        track(mode + " " + x + " from " + me, post("/console/api/calls/" + encodeURIComponent(uuid) + "/supervise",
          {supervisor: me, mode: mode, domain: cfg.domain}));
      });
    } else if (act === "mode") {
      var id = b.getAttribute("data-id"), m = b.getAttribute("data-mode");
      confirmThen("Switch this supervision to " + MODE_LABEL[m] + "?", function () {
        track("mode " + m, post("/console/api/supervisions/" + encodeURIComponent(id) + "/mode", {mode: m}));
      });
    }
  });
  if (cfg.canAct) {
    try { $("myphone").value = localStorage.getItem("fscti.myphone") || ""; } catch (e) { /* */ }
  }

  // --- the stream --------------------------------------------------------------------------
  function connect() {
    if (!cfg.domain) { $("conn").textContent = "no domain"; return; }
    var es = new EventSource("/console/stream?domain=" + encodeURIComponent(cfg.domain));
    es.addEventListener("open", function () { $("conn").textContent = "live"; $("conn").className = "conn on"; });
    es.addEventListener("error", function () { $("conn").textContent = "reconnecting"; $("conn").className = "conn off"; });
    es.addEventListener("snapshot", function (e) { snapshot(JSON.parse(e.data)); });
    es.addEventListener("update", function (e) { update(JSON.parse(e.data)); });
    es.addEventListener("tick", function (e) {
      var t = JSON.parse(e.data); setClock(t.now);
      if (t.sups) { sups = t.sups; changed(false); }
    });
    es.addEventListener("expired", function () { es.close(); location.href = "/console/login"; });
  }

  ["search", "filter", "sort"].forEach(function (id) {
    $(id).addEventListener(id === "search" ? "input" : "change", function () { changed(true); list.scrollTop = 0; });
  });
  $("domain").addEventListener("change", function () {
    location.href = "/console?domain=" + encodeURIComponent($("domain").value);
  });
  list.addEventListener("scroll", function () { changed(false); });
  window.addEventListener("resize", function () { changed(false); });
  setInterval(tick, 1000);
  connect();
})();
