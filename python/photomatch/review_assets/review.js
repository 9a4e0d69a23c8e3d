// photomatch review page. Every name is rendered with textContent (never as HTML);
// the results come from the JSON data element; the only requests are the previews
// and, when served by `photomatch review`, the same-origin server (decisions, the
// compare view's images, capture information, the album search and the export).
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("photomatch-data").textContent);
  const served = location.protocol === "http:" || location.protocol === "https:";
  const $ = (id) => document.getElementById(id);
  const rowsEl = $("rows");
  const cmpEl = $("compare");
  const searchEl = $("search");
  const helpEl = $("help");
  const summaryEl = $("summary");
  const keyOf = (set, query) => JSON.stringify([set, query]);
  const albumPrefix = data.album.replace(/\/+$/, "") + "/";
  const relOf = (path) => (path && path.startsWith(albumPrefix) ? path.slice(albumPrefix.length) : path);

  // Decisions: key -> picked path, or null for "none of these".
  const decisions = new Map();
  let unsaved = false;

  function adopt(list) {
    decisions.clear();
    for (const d of list) decisions.set(keyOf(d.set, d.query), d.pick);
  }
  adopt(data.decisions || []);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function button(text, cls, onClick) {
    const b = el("button", cls, text);
    b.type = "button";
    b.addEventListener("click", (ev) => {
      ev.stopPropagation();
      onClick(ev);
    });
    return b;
  }

  function image(src, alt, missing) {
    if (!src) return el("div", "nopreview", missing || "no preview");
    const img = el("img");
    img.alt = alt;
    img.decoding = "async";
    img.src = src;
    img.addEventListener("error", () => img.replaceWith(el("div", "nopreview", "preview missing")));
    return img;
  }

  function setState(text, kind) {
    const s = $("save-state");
    s.textContent = text;
    s.className = kind || "";
  }

  function query(params) {
    return Object.entries(params)
      .map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(String(v)))
      .join("&");
  }

  async function getJSON(url) {
    const resp = await fetch(url, { cache: "no-store", credentials: "same-origin" });
    if (!resp.ok) throw new Error((await resp.text()).trim() || resp.statusText);
    return resp.json();
  }

  function megabytes(n) {
    if (typeof n !== "number") return "";
    return n >= 1e6 ? (n / 1e6).toFixed(1) + " MB" : Math.max(1, Math.round(n / 1e3)) + " kB";
  }

  // ---- plain words ---------------------------------------------------------------

  // How sure photomatch is, from its calibrated confidence that the first candidate
  // is the original (README "Review" has the same table).
  function sureness(row) {
    if (row.status === "unreadable") return "unreadable";
    const c = row.confidence;
    if (!row.candidates.length) return "no match";
    if (typeof c !== "number") return row.status === "ambiguous" ? "unsure" : "no match";
    if (c >= 0.99) return "certain";
    if (c >= 0.9) return "likely";
    if (c >= 0.5) return "unsure";
    return row.status === "unmatched" ? "no match" : "unlikely";
  }

  const NCC_MIN = typeof data.ncc_min === "number" ? data.ncc_min : 0.85;
  const TURN = /^thumbnail (rotated \d+\u00b0|mirrored)/;

  // Why the answer is what it is, in one sentence (from the reason code).
  function because(row) {
    if (row.status === "unreadable") return "The thumbnail could not be read: " + row.skip_reason;
    const n = row.candidates.filter((c) => typeof c.score === "number" && c.score >= NCC_MIN).length;
    const words = {
      framed: "Found: this photo, shown whole or at a standard framing.",
      crop: "Found as a crop of this photo.",
      frames_alike:
        (n > 1 ? n + " photos" : "Several photos") +
        " fit equally: frames of a burst, or copies. Compare them to pick the right one.",
      shifted: "It fits only shifted a little: probably another frame of a burst.",
      burst_crop: "A crop that fits several frames of a burst alike: compare them.",
      exposure_off: "It fits as a crop, but the exposure differs: probably another frame.",
      unsure: "A photo fits, but not surely enough to say it is the original.",
      unconfirmed:
        "A photo fits closely as a whole, but too little of its fine detail agrees to be sure: check it.",
      no_fit: "Photos came close in the search, but none fits on its pixels.",
      no_candidate: "No photo of the album comes close to it.",
      same_original: "Another thumbnail of this set matched the same photo more surely.",
    };
    const plain = {
      matched: "Found.",
      ambiguous: "Several photos could be the original: compare them.",
      unmatched: "Nothing fits well enough to answer.",
    };
    let text = words[row.reason] || plain[row.status] || "";
    const turn = TURN.exec(row.note || "");
    if (turn) text = "The thumbnail is " + turn[1] + ". " + text;
    return text;
  }

  // What a candidate is, in words, from what matches.json holds about it.
  function verdict(row, c, n) {
    if (typeof c.score !== "number") return "not compared on pixels: further off in the search";
    if (c.score < NCC_MIN) return "does not fit (similarity " + c.score.toFixed(2) + ")";
    if (row.status === "matched") return n === 0 ? "the match" : "fits less well";
    if (row.status === "unmatched") return "fits, but not well enough to answer";
    return "fits";
  }

  // ---- rows (built as they scroll into view) ------------------------------------------

  // Rows live in blocks of BLOCK: the browser watches and lays out a few hundred
  // blocks rather than 10,000 rows, and a row built in one block moves only its block.
  const BLOCK = 25;
  const blocks = [];
  const views = data.rows.map((row, i) => {
    if (i % BLOCK === 0) {
      const b = el("div", "block");
      b.dataset.first = String(i);
      rowsEl.append(b);
      blocks.push(b);
    }
    const sec = el("section", "row pending status-" + row.status);
    sec.dataset.index = String(i);
    sec.addEventListener("click", () => setCurrent(i, false));
    blocks[blocks.length - 1].append(sec);
    return { sec, built: false };
  });

  // Rows coming into view wait in a queue, built a few milliseconds' worth per
  // animation frame, so that a jump into the middle of 10,000 rows never stalls
  // the scroll for the dozen rows it reveals.
  const queue = new Set();
  let queued = false;
  const FRAME_BUDGET_MS = 6;

  function drain() {
    queued = false;
    const start = performance.now();
    for (const i of queue) {
      queue.delete(i);
      ensure(i);
      if (performance.now() - start > FRAME_BUDGET_MS) break;
    }
    if (queue.size && !queued) {
      queued = true;
      requestAnimationFrame(drain);
    }
  }

  const observer =
    "IntersectionObserver" in window
      ? new IntersectionObserver(
          (entries) => {
            for (const e of entries) {
              const first = Number(e.target.dataset.first);
              const last = Math.min(views.length, first + BLOCK);
              for (let i = first; i < last; i++) {
                if (views[i].built || views[i].sec.hidden) continue;
                if (e.isIntersecting) queue.add(i);
                else queue.delete(i);
              }
            }
            if (queue.size && !queued) {
              queued = true;
              requestAnimationFrame(drain);
            }
          },
          { rootMargin: "600px 0px" },
        )
      : null;
  blocks.forEach((b) => (observer ? observer.observe(b) : null));

  function ensure(i) {
    const v = views[i];
    if (!v || v.built) return v;
    v.built = true;
    build(data.rows[i], i, v);
    refresh(i);
    const row = data.rows[i];
    if (served && row.ri !== null && row.candidates.length) loadCapture(i);
    if (served && row.ri !== null && !row.candidates.length) loadNearest(i);
    return v;
  }

  function build(row, i, v) {
    const sec = v.sec;
    sec.classList.remove("pending");
    const fig = el("figure", "query");
    const qimg = image(row.preview, "thumbnail");
    qimg.addEventListener("click", (ev) => {
      ev.stopPropagation();
      setCurrent(i, false);
      openCompare(i, null);
    });
    fig.append(qimg, el("figcaption", "", "thumbnail"));

    const info = el("div", "info");
    const head = el("div", "head");
    head.append(el("span", "badge " + row.status, row.status));
    const sure = sureness(row);
    if (sure !== "unreadable") head.append(el("span", "sure sure-" + sure.replace(" ", "-"), sure));
    head.append(el("span", "set", "set " + row.set));
    const qname = el("div", "qname", row.name);
    qname.title = row.query;
    info.append(head, qname, el("div", "why", because(row)));
    const details = [];
    if (typeof row.confidence === "number") details.push("confidence " + (100 * row.confidence).toFixed(1) + "%");
    if (row.distance !== null && row.distance !== undefined) details.push(row.distance + " bits");
    if (typeof row.score === "number") details.push("score " + row.score.toFixed(3));
    if (row.reason) details.push("reason " + row.reason);
    if (row.note) details.push(row.note);
    if (details.length) info.append(el("div", "details", details.join(" \u00b7 ")));
    v.decision = el("div", "decision");
    info.append(v.decision);
    if (row.status !== "unreadable") {
      const tools = el("div", "row-tools");
      if (row.candidates.length) tools.append(button("compare (z)", "compare", () => (setCurrent(i, false), openCompare(i, null))));
      if (served) tools.append(button("search the album (/)", "find", () => (setCurrent(i, false), openSearch(i))));
      info.append(tools);
    }

    const cands = el("ol", "cands");
    if (row.status === "unmatched" && row.candidates.length) {
      cands.setAttribute("aria-label", "nearest photos that were checked");
    }
    v.items = row.candidates.map((c, n) => {
      const li = el("li", "cand");
      const top = el("div", "cand-head");
      top.append(el("kbd", "", n < 9 ? String(n + 1) : "\u00b7"));
      top.append(button("pick", "pick", () => (setCurrent(i, false), choose(i, c.path))));
      const img = image(c.preview, "candidate " + (n + 1));
      img.addEventListener("click", (ev) => {
        ev.stopPropagation();
        setCurrent(i, false);
        openCompare(i, n);
      });
      const path = el("div", "path", c.rel);
      path.title = c.path;
      const capture = el("div", "capture");
      li.append(top, img, path, el("div", "verdict", verdict(row, c, n)), capture);
      const bits = [c.distance + " bits"];
      if (typeof c.score === "number") bits.push("score " + c.score.toFixed(3));
      bits.push(c.view);
      li.append(el("div", "meta", bits.join(" \u00b7 ")));
      if (c.variants && c.variants.length) {
        li.append(el("div", "variants", "+ " + c.variants.length + " copy(ies): " + c.variants.join(", ")));
      }
      li.capture = capture;
      cands.append(li);
      return li;
    });
    v.none = null;
    v.other = null;
    if (row.status !== "unreadable") {
      const other = el("li", "cand other");
      other.hidden = true;
      v.other = other;
      cands.append(other);
      const none = el("li", "cand none");
      const top = el("div", "cand-head");
      top.append(el("kbd", "", "0"));
      top.append(button("none of these", "pick", () => (setCurrent(i, false), choose(i, null))));
      none.append(top, el("div", "meta", "not exported"));
      none.append(button("undo my pick", "undo", () => (setCurrent(i, false), clearPick(i))));
      cands.append(none);
      v.none = none;
    }
    sec.append(fig, info, cands);
  }

  // Capture information of a row's candidates (served only), shown under each.
  const captures = new Map(); // row index -> list, in candidate order
  function loadCapture(i) {
    const row = data.rows[i];
    getJSON("capture?" + query({ r: row.ri }))
      .then((doc) => {
        captures.set(i, doc.candidates);
        const v = views[i];
        doc.candidates.forEach((c, n) => {
          if (v.items && v.items[n]) v.items[n].capture.textContent = captureLine(c);
        });
      })
      .catch(() => {});
  }

  // For a thumbnail with no candidate: the album files nearest it in hash, however
  // far, offered to compare and pick (served only).
  function loadNearest(i) {
    const row = data.rows[i];
    getJSON("nearest?" + query({ r: row.ri }))
      .then((doc) => {
        const v = views[i];
        if (!doc.files.length || !v.none) return;
        const head = el("li", "cand near-head", "Nearest in the album, too far in the search to be checked:");
        v.none.before(head);
        for (const f of doc.files) {
          const li = el("li", "cand near");
          li.dataset.path = f.path;
          const top = el("div", "cand-head");
          top.append(button("pick", "pick", () => (setCurrent(i, false), choose(i, f.path))));
          const target = { n: null, path: f.path, rel: f.rel, preview: null, params: { r: row.ri, file: f.rel }, capture: f, info: null };
          top.append(button("compare", "compare", () => (setCurrent(i, false), openCompare(i, null, target))));
          const p = el("div", "path", f.rel);
          p.title = f.path;
          li.append(top, image("album-preview?" + query({ file: f.rel }), "album file"), p);
          li.append(el("div", "verdict", "not checked: " + f.distance + " bits from it in the search"));
          li.append(el("div", "capture", captureLine(f)));
          li.append(el("div", "meta", f.distance + " bits · " + f.view));
          v.none.before(li);
        }
        refresh(i);
      })
      .catch(() => {});
  }

  function captureLine(c) {
    const parts = [];
    parts.push(c.taken ? "taken " + c.taken : "no capture time");
    if (c.camera) parts.push(c.camera);
    if (c.width && c.height) parts.push(c.width + "\u00d7" + c.height);
    if (typeof c.bytes === "number") parts.push(megabytes(c.bytes));
    return parts.join(" \u00b7 ");
  }

  function decided(row) {
    return decisions.has(keyOf(row.set, row.query));
  }

  // The file export would copy for this row: a path, or null.
  function chosenPath(row) {
    const k = keyOf(row.set, row.query);
    if (decisions.has(k)) return decisions.get(k);
    return row.status === "matched" ? row.match : null;
  }

  function refresh(i) {
    const row = data.rows[i];
    const v = views[i];
    const mine = decided(row);
    const path = chosenPath(row);
    v.sec.classList.toggle("decided", mine);
    if (!v.built) return;
    row.candidates.forEach((c, n) => v.items[n].classList.toggle("chosen", c.path === path));
    if (v.none) v.none.classList.toggle("chosen", mine && path === null);
    const n = row.candidates.findIndex((c) => c.path === path);
    let near = false;
    for (const li of v.sec.querySelectorAll(".cand.near")) {
      const on = mine && li.dataset.path === path;
      li.classList.toggle("chosen", on);
      near = near || on;
    }
    if (v.other) {
      // A file picked from the album search: shown as its own, chosen, candidate.
      const other = mine && path !== null && n < 0 && !near;
      v.other.hidden = !other;
      v.other.classList.toggle("chosen", other);
      if (other) {
        const p = el("div", "path", relOf(path));
        p.title = path;
        v.other.replaceChildren(
          el("div", "meta", "found in the album"),
          image(served ? "album-preview?" + query({ file: relOf(path) }) : null, "your pick", "picked from the album"),
          p,
        );
      }
    }
    let text;
    if (row.status === "unreadable") {
      text = "could not be read: not exported";
    } else if (mine && path === null) {
      text = "your pick: none of these \u2014 not exported";
    } else if (mine) {
      text = n < 0
        ? "your pick: found in the album \u2014 exports " + relOf(path)
        : "your pick: " + (n + 1) + " \u2014 exports " + row.candidates[n].rel;
    } else if (path) {
      text = "photomatch's match \u2014 exports " + (n >= 0 ? row.candidates[n].rel : relOf(path));
    } else if (row.candidates.length) {
      const m = Math.min(9, row.candidates.length);
      text = "not exported unless you pick one (" + (m > 1 ? "1\u2013" + m : "1") + ")";
    } else {
      text = "no candidate: not exported" + (served ? " unless you find it in the album (/)" : "");
    }
    v.decision.textContent = text;
  }

  function refreshAll() {
    views.forEach((v, i) => refresh(i));
    counts();
    if (!summaryEl.hidden) summary();
  }

  // Needs a person: anything photomatch did not match (unreadable rows cannot be settled).
  const open = (row) => row.status === "ambiguous" || row.status === "unmatched";

  function counts() {
    const by = {};
    let mine = 0;
    let toReview = 0;
    let done = 0;
    for (const row of data.rows) {
      by[row.status] = (by[row.status] || 0) + 1;
      if (decided(row)) mine += 1;
      if (open(row)) {
        toReview += 1;
        if (decided(row)) done += 1;
      }
    }
    $("progress").textContent =
      toReview + " of " + data.rows.length + " to review, " + done + " done";
    const parts = [];
    for (const s of data.statuses) parts.push((by[s] || 0) + " " + s);
    parts.push(mine + " picked by you");
    parts.push(order.length + " shown");
    $("counts").textContent = "\u00b7 " + parts.join(" \u00b7 ");
  }

  // ---- filters and the current row ----------------------------------------------

  const setSel = $("filter-set");
  const statusSel = $("filter-status");
  const sureSel = $("filter-sure");
  for (const name of data.sets) {
    const opt = el("option", "", name);
    opt.value = name;
    setSel.append(opt);
  }

  let order = []; // indices of the rows shown, in page order
  let current = -1;

  function shown(row) {
    if (setSel.value && row.set !== setSel.value) return false;
    if (sureSel.value && sureness(row) !== sureSel.value) return false;
    switch (statusSel.value) {
      case "":
        return true;
      case "review":
        return row.status !== "matched";
      case "decided":
        return decided(row);
      case "undecided":
        return !decided(row);
      default:
        return row.status === statusSel.value;
    }
  }

  // Rows likely on screen are built at once (the rest as they scroll into view).
  const EAGER = 24;

  function applyFilters() {
    order = [];
    data.rows.forEach((row, i) => {
      const on = shown(row);
      views[i].sec.hidden = !on;
      if (on) order.push(i);
    });
    order.slice(0, EAGER).forEach(ensure);
    if (observer) {
      // Observed afresh, each block reports whether it is in view now: its rows
      // just shown get built even where the block was in view before.
      queue.clear();
      for (const b of blocks) {
        observer.unobserve(b);
        observer.observe(b);
      }
    }
    $("empty").hidden = order.length > 0;
    if (!order.includes(current)) setCurrent(order.length ? order[0] : -1, true);
    counts();
  }

  function setCurrent(i, scroll) {
    if (current >= 0) views[current].sec.classList.remove("current");
    current = i;
    if (i < 0) return;
    const sec = ensure(i).sec;
    sec.classList.add("current");
    if (scroll) sec.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    if (!order.length) return;
    const at = order.indexOf(current);
    const next = at < 0 ? 0 : Math.min(order.length - 1, Math.max(0, at + step));
    setCurrent(order[next], true);
  }

  // The next shown thumbnail that needs a person and has no pick of yours.
  function nextOpen() {
    if (!order.length) return;
    const at = Math.max(0, order.indexOf(current));
    for (let k = 1; k <= order.length; k++) {
      const i = order[(at + k) % order.length];
      const row = data.rows[i];
      if (open(row) && !decided(row)) {
        setCurrent(i, true);
        return;
      }
    }
    setState("every thumbnail shown is settled", "ok");
  }

  setSel.addEventListener("change", applyFilters);
  statusSel.addEventListener("change", applyFilters);
  sureSel.addEventListener("change", applyFilters);
  $("next-open").addEventListener("click", nextOpen);

  // ---- summary: answers by status and sureness per set -------------------------------

  const SURE = ["certain", "likely", "unsure", "unlikely", "no match"];

  function bar(parts, total, label) {
    const b = el("div", "bar");
    b.setAttribute("role", "img");
    b.setAttribute("aria-label", label);
    for (const [name, n] of parts) {
      if (!n) continue;
      const seg = el("span", "seg seg-" + name.replace(" ", "-"));
      seg.style.width = (100 * n) / total + "%";
      seg.title = n + " " + name;
      b.append(seg);
    }
    return b;
  }

  function summary() {
    const sets = new Map();
    for (const row of data.rows) {
      if (!sets.has(row.set)) sets.set(row.set, { total: 0, status: {}, sure: {}, mine: 0 });
      const s = sets.get(row.set);
      s.total += 1;
      s.status[row.status] = (s.status[row.status] || 0) + 1;
      const w = sureness(row);
      s.sure[w] = (s.sure[w] || 0) + 1;
      if (decided(row)) s.mine += 1;
    }
    const table = el("table", "chart");
    const head = el("tr");
    for (const h of ["set", "thumbnails", "by status", "how sure", "picked by you"]) head.append(el("th", "", h));
    table.append(head);
    for (const [name, s] of sets) {
      const tr = el("tr");
      const statuses = data.statuses.map((st) => [st, s.status[st] || 0]);
      const sure = SURE.concat(["unreadable"]).map((w) => [w, s.sure[w] || 0]);
      const text = (pairs) => pairs.filter(([, n]) => n).map(([k, n]) => n + " " + k).join(", ");
      const c1 = el("td");
      c1.append(bar(statuses, s.total, text(statuses)), el("div", "legend", text(statuses)));
      const c2 = el("td");
      c2.append(bar(sure, s.total, text(sure)), el("div", "legend", text(sure)));
      tr.append(el("td", "set-name", name), el("td", "num", s.total), c1, c2, el("td", "num", s.mine));
      table.append(tr);
    }
    summaryEl.replaceChildren(el("h2", "", "Summary"), table);
  }

  function toggleSummary() {
    summaryEl.hidden = !summaryEl.hidden;
    $("summary-button").setAttribute("aria-expanded", String(!summaryEl.hidden));
    if (!summaryEl.hidden) summary();
  }
  $("summary-button").addEventListener("click", toggleSummary);

  // ---- decisions -------------------------------------------------------------

  function choose(i, pick) {
    const row = data.rows[i];
    if (!row || row.status === "unreadable") return;
    decisions.set(keyOf(row.set, row.query), pick);
    changed(i);
    move(1);
  }

  function clearPick(i) {
    const row = data.rows[i];
    if (!row || !decided(row)) return;
    decisions.delete(keyOf(row.set, row.query));
    changed(i);
  }

  function changed(i) {
    refresh(i);
    counts();
    if (!summaryEl.hidden) summary();
    save(i);
  }

  function documentOf() {
    const list = [];
    for (const row of data.rows) {
      const k = keyOf(row.set, row.query);
      if (decisions.has(k)) list.push({ set: row.set, query: row.query, pick: decisions.get(k) });
    }
    return { version: 1, decisions: list };
  }

  // Each pick is saved on its own (POST decision: this thumbnail only), so picks made
  // in another tab are kept. Unsent picks wait here, the latest per thumbnail; they
  // are sent one after another. One that could not be sent (no server) is sent again
  // with the next pick; one the server refused is dropped and the page shows the file.
  const pending = new Map();
  let chain = Promise.resolve();

  function requestOf(row) {
    const k = keyOf(row.set, row.query);
    return decisions.has(k)
      ? { set: row.set, query: row.query, pick: decisions.get(k) }
      : { set: row.set, query: row.query, undo: true };
  }

  function save(i) {
    unsaved = true;
    if (!served) {
      setState("not saved: this page was opened as a file \u2014 download decisions.json " +
        "and put it in the results folder, or use photomatch review", "warn");
      return;
    }
    const row = data.rows[i];
    pending.set(keyOf(row.set, row.query), requestOf(row));
    setState("saving\u2026", "");
    chain = chain.then(flush);
  }

  async function post(url, body) {
    const resp = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
    });
    if (!resp.ok) {
      const err = new Error((await resp.text()).trim() || resp.statusText);
      err.refused = resp.status >= 400 && resp.status < 500; // sending it again won't help
      throw err;
    }
    return resp.json();
  }

  async function flush() {
    if (!pending.size) return; // sent by an earlier round
    let doc = null;
    let refused = null;
    for (const [k, body] of Array.from(pending)) {
      try {
        doc = await post("decision", body);
      } catch (err) {
        if (!err.refused) {
          setState("NOT SAVED (" + err.message + "): use Download decisions.json", "error");
          return; // kept: sent again with the next pick
        }
        refused = err;
      }
      if (pending.get(k) === body) pending.delete(k);
    }
    if (pending.size) return; // newer picks: the next round sends them
    unsaved = false;
    // The server's answer holds every pick in decisions.json, other tabs' included.
    if (doc) adopt(doc.decisions);
    if (refused) {
      if (!doc) await reload().catch(() => {});
      refreshAll();
      setState("NOT SAVED: photomatch review refused a pick (" + refused.message + ")", "error");
      return;
    }
    refreshAll();
    setState("saved: " + doc.decisions.length + " pick(s) in decisions.json", "ok");
  }

  // What decisions.json holds now (picks made in other tabs too), unless picks of
  // this page are still on their way.
  function reload() {
    return getJSON("decisions").then((doc) => {
      if (unsaved) return;
      adopt(doc.decisions);
      refreshAll();
      applyFilters();
    });
  }

  function download() {
    const blob = new Blob([JSON.stringify(documentOf(), null, 1) + "\n"], {
      type: "application/json",
    });
    const a = el("a");
    a.href = URL.createObjectURL(blob);
    a.download = "decisions.json";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    if (!served) {
      unsaved = false;
      setState("downloaded: put decisions.json in the results folder", "ok");
    }
  }

  $("download").addEventListener("click", download);
  window.addEventListener("beforeunload", (ev) => {
    if (unsaved && !served) ev.preventDefault();
  });

  // ---- the compare view --------------------------------------------------------------

  // cmp: the row, its targets (candidates, or one file found in the album), the one shown.
  let cmp = null;
  let flickerTimer = null;

  function targetsOf(i) {
    const row = data.rows[i];
    return row.candidates.map((c, n) => ({
      n,
      path: c.path,
      rel: c.rel,
      preview: c.preview,
      params: { r: row.ri, c: n },
      capture: (captures.get(i) || [])[n] || null,
      info: null,
    }));
  }

  function openCompare(i, n, extra) {
    const row = data.rows[i];
    if (row.status === "unreadable") return;
    const targets = extra ? [extra] : targetsOf(i);
    if (!targets.length) return;
    cmp = { i, targets, at: 0, mode: "region", strip: [] };
    $("cmp-title").textContent = "Compare: " + row.name;
    cmpEl.hidden = false;
    cmpEl.focus();
    const thumbSrc = served && row.ri !== null ? "compare-image?" + query({ ...targets[0].params, kind: "thumb" }) : row.preview;
    cmp.thumbSrc = thumbSrc;
    $("cmp-a-frame").replaceChildren(image(thumbSrc, "thumbnail"));
    $("cmp-a-caption").textContent = "thumbnail: " + row.name;
    if (served && !extra && !captures.has(i)) {
      getJSON("capture?" + query({ r: row.ri }))
        .then((doc) => {
          captures.set(i, doc.candidates);
          if (cmp && cmp.i === i) {
            cmp.targets.forEach((t) => (t.capture = doc.candidates[t.n] || null));
            strip();
          }
        })
        .catch(() => {});
    }
    strip();
    const first = n === null || n === undefined ? bestIndex() : cmp.strip.findIndex((t) => t.n === n);
    show(Math.max(0, first));
    if (served) loadInfos();
  }

  // The targets in capture order (those without a time keep photomatch's order, last).
  function strip() {
    const t = cmp.targets.slice();
    t.sort((a, b) => {
      const ka = a.capture && a.capture.taken_key;
      const kb = b.capture && b.capture.taken_key;
      if (ka && kb && ka !== kb) return ka < kb ? -1 : 1;
      if (ka && !kb) return -1;
      if (kb && !ka) return 1;
      return (a.n === null ? 99 : a.n) - (b.n === null ? 99 : b.n);
    });
    const shownNow = cmp.strip[cmp.at];
    cmp.strip = t;
    if (shownNow) cmp.at = t.indexOf(shownNow);
    const best = best_();
    const list = $("cmp-strip");
    list.replaceChildren();
    t.forEach((x, k) => {
      const li = el("li", "strip-item" + (k === cmp.at ? " shown" : "") + (x === best ? " best" : ""));
      const b = el("button", "strip-pick");
      b.type = "button";
      b.append(image(x.preview || (served ? "album-preview?" + query({ file: x.rel }) : null), "candidate"));
      b.addEventListener("click", () => show(k));
      li.append(b);
      li.append(el("div", "strip-name", (x.n !== null ? x.n + 1 + ": " : "") + x.rel));
      if (x === best) li.append(el("div", "best-mark", "best fit"));
      if (x.capture) li.append(el("div", "strip-meta", captureLine(x.capture)));
      if (x.capture && x.capture.folder !== undefined) li.append(el("div", "strip-meta", "folder " + (x.capture.folder || "(album)")));
      if (x.info) {
        li.append(el("div", "strip-meta", "similarity " + fmt(x.info.ncc, 3) + " \u00b7 difference " + fmt(x.info.diff_rms, 1)));
        if (x.info.framing) li.append(el("div", "strip-meta", x.info.framing));
        if (x.info.rejected) li.append(el("div", "strip-meta rejected", "not taken: " + x.info.rejected));
      }
      list.append(li);
    });
  }

  function fmt(v, digits) {
    return typeof v === "number" ? v.toFixed(digits) : "?";
  }

  // The target that fits best: of those within 0.002 of the highest similarity (the
  // frames of a burst all fit a crop alike), the one nearest a standard framing, then
  // the one with the smallest difference.
  function best_() {
    const fitted = cmp.targets.filter((x) => x.info && typeof x.info.ncc === "number");
    if (!fitted.length) return null;
    const top = Math.max(...fitted.map((x) => x.info.ncc));
    const off = (x) => (typeof x.info.offset_px === "number" ? x.info.offset_px : Infinity);
    const close = fitted.filter((x) => x.info.ncc >= top - 0.002);
    close.sort((a, b) => off(a) - off(b) || (a.info.diff_rms || 0) - (b.info.diff_rms || 0));
    return close[0];
  }

  function bestIndex() {
    const row = data.rows[cmp.i];
    const chosen = chosenPath(row);
    const k = cmp.strip.findIndex((t) => t.path === chosen);
    return k >= 0 ? k : cmp.strip.findIndex((t) => t.n === 0);
  }

  // The figures of every target, one request after another (the server decodes them).
  async function loadInfos() {
    const mine = cmp;
    for (const t of mine.targets) {
      if (t.info) continue;
      try {
        t.info = await getJSON("compare?" + query(t.params));
      } catch (err) {
        t.info = { ncc: null, diff_rms: null, rejected: "", where: "", error: err.message };
      }
      if (cmp !== mine) return;
      strip();
      if (mine.strip[mine.at] === t) caption();
    }
  }

  function show(k) {
    if (!cmp) return;
    cmp.at = Math.max(0, Math.min(cmp.strip.length - 1, k));
    const t = cmp.strip[cmp.at];
    const row = data.rows[cmp.i];
    const frame = $("cmp-b-frame");
    if (served && row.ri !== null) {
      const region = image("compare-image?" + query({ ...t.params, kind: "region" }), "region of the candidate");
      region.classList.add("region");
      const diff = image("compare-image?" + query({ ...t.params, kind: "diff" }), "difference");
      diff.classList.add("diff");
      const thumb = image(cmp.thumbSrc, "thumbnail, for the flicker");
      thumb.classList.add("flick");
      frame.replaceChildren(region, diff, thumb);
    } else {
      const region = image(t.preview, "candidate");
      region.classList.add("region");
      frame.replaceChildren(region);
    }
    Array.from($("cmp-strip").children).forEach((li, n) => li.classList.toggle("shown", n === cmp.at));
    setMode(cmp.mode);
    caption();
  }

  function caption() {
    const t = cmp.strip[cmp.at];
    const parts = [(t.n !== null ? t.n + 1 + ": " : "found in the album: ") + t.rel];
    if (t.info && t.info.where) parts.push(t.info.where);
    if (t.info && t.info.framing) parts.push(t.info.framing);
    if (t.info && typeof t.info.ncc === "number") parts.push("similarity " + t.info.ncc.toFixed(3));
    if (t.info && typeof t.info.diff_rms === "number") parts.push("difference " + t.info.diff_rms.toFixed(1) + " grey levels");
    $("cmp-b-caption").textContent = parts.join(" \u00b7 ");
    let why = "";
    if (t.info && t.info.error) why = "cannot compare: " + t.info.error;
    else if (t.info && t.info.rejected) why = "photomatch would not take it: " + t.info.rejected;
    $("cmp-why").textContent = why;
  }

  function setMode(mode) {
    cmp.mode = mode;
    const frame = $("cmp-b-frame");
    frame.dataset.mode = mode;
    for (const b of document.querySelectorAll(".cmp-modes button")) {
      b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
    }
    clearInterval(flickerTimer);
    flickerTimer = null;
    frame.classList.remove("flicked");
    if (mode === "flicker") {
      flickerTimer = setInterval(() => frame.classList.toggle("flicked"), 450);
    }
  }

  for (const b of document.querySelectorAll(".cmp-modes button")) {
    b.addEventListener("click", () => cmp && setMode(b.dataset.mode));
  }

  function pickShown() {
    if (!cmp) return;
    const t = cmp.strip[cmp.at];
    const i = cmp.i;
    closeCompare();
    choose(i, t.path);
  }

  function closeCompare() {
    if (!cmp) return;
    clearInterval(flickerTimer);
    flickerTimer = null;
    cmp = null;
    cmpEl.hidden = true;
    $("cmp-b-frame").replaceChildren();
    $("cmp-a-frame").replaceChildren();
  }

  $("cmp-pick").addEventListener("click", pickShown);
  $("cmp-close").addEventListener("click", closeCompare);

  // ---- the album search (served only) ----------------------------------------------------

  let searchRow = -1;

  function openSearch(i) {
    if (!served || data.rows[i].status === "unreadable") return;
    searchRow = i;
    $("search-for").textContent = "for the thumbnail " + data.rows[i].name + " (set " + data.rows[i].set + ")";
    searchEl.hidden = false;
    $("search-name").focus();
  }

  function closeSearch() {
    searchEl.hidden = true;
    searchRow = -1;
  }

  $("search-close").addEventListener("click", closeSearch);
  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const params = {
      name: $("search-name").value,
      folder: $("search-folder").value,
      from: $("search-from").value,
      to: $("search-to").value,
    };
    const state = $("search-state");
    state.textContent = "searching\u2026";
    getJSON("search?" + query(params))
      .then((doc) => {
        state.textContent = doc.files.length
          ? doc.files.length + (doc.more ? "+ files (the first shown; narrow the search)" : " file(s)")
          : "no file of the album fits";
        results(doc.files);
      })
      .catch((err) => {
        state.textContent = "cannot search: " + err.message;
        results([]);
      });
  });

  function results(files) {
    const list = $("search-results");
    list.replaceChildren();
    for (const f of files) {
      const li = el("li", "found");
      li.append(image("album-preview?" + query({ file: f.rel }), "album file"));
      const text = el("div", "found-text");
      text.append(el("div", "path", f.rel));
      text.append(el("div", "meta", captureLine(f) + " \u00b7 file date " + f.mtime));
      const tools = el("div", "row-tools");
      const row = data.rows[searchRow];
      const target = { n: null, path: f.path, rel: f.rel, preview: null, params: { r: row.ri, file: f.rel }, capture: f, info: null };
      const i = searchRow;
      tools.append(button("compare", "compare", () => (closeSearch(), openCompare(i, null, target))));
      tools.append(button("pick this one", "pick", () => (closeSearch(), setCurrent(i, false), choose(i, f.path))));
      text.append(tools);
      li.append(text);
      list.append(li);
    }
  }

  // ---- export (served only) ------------------------------------------------------------

  $("export").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const state = $("export-state");
    const files = $("export-files");
    files.replaceChildren();
    state.className = "";
    state.textContent = "exporting\u2026";
    chain
      .then(() => post("export", { dest: $("export-dest").value }))
      .then((doc) => {
        const done = Object.entries(doc.counts).map(([k, n]) => n + " " + k).join(", ") || "nothing to export";
        state.className = "ok";
        state.textContent = "exported to " + doc.dest + ": " + done + (doc.manifest ? " \u00b7 manifest " + doc.manifest : "");
        for (const f of doc.files) files.append(el("li", "", f.status + ": " + f.destination));
      })
      .catch((err) => {
        state.className = "error";
        state.textContent = err.message;
      });
  });

  // ---- help --------------------------------------------------------------------------

  function toggleHelp() {
    helpEl.hidden = !helpEl.hidden;
    $("help-button").setAttribute("aria-expanded", String(!helpEl.hidden));
  }
  $("help-button").addEventListener("click", toggleHelp);

  // ---- keyboard --------------------------------------------------------------

  function compareKeys(ev) {
    switch (ev.key) {
      case "Escape":
        closeCompare();
        break;
      case "ArrowRight":
      case "l":
        show(cmp.at + 1);
        break;
      case "ArrowLeft":
      case "h":
        show(cmp.at - 1);
        break;
      case "r":
        setMode("region");
        break;
      case "d":
        setMode("diff");
        break;
      case "f":
        setMode(cmp.mode === "flicker" ? "region" : "flicker");
        break;
      case "Enter":
      case "p":
        pickShown();
        break;
      case "0":
      case "n": {
        const i = cmp.i;
        closeCompare();
        choose(i, null);
        break;
      }
      default:
        if (/^[1-9]$/.test(ev.key)) {
          const c = data.rows[cmp.i].candidates[Number(ev.key) - 1];
          const i = cmp.i;
          if (c) {
            closeCompare();
            choose(i, c.path);
          }
          break;
        }
        return;
    }
    ev.preventDefault();
  }

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (!searchEl.hidden) {
      if (ev.key === "Escape") {
        closeSearch();
        ev.preventDefault();
      }
      return; // typing in the search form
    }
    const tag = ev.target && ev.target.tagName;
    if (tag === "SELECT" || tag === "INPUT" || tag === "TEXTAREA") return;
    if (tag === "BUTTON" && (ev.key === "Enter" || ev.key === " ")) return;
    if (cmp) {
      compareKeys(ev);
      return;
    }
    const row = data.rows[current];
    switch (ev.key) {
      case "j":
      case "ArrowDown":
        move(1);
        break;
      case "k":
      case "ArrowUp":
        move(-1);
        break;
      case "g":
        nextOpen();
        break;
      case "0":
      case "n":
        if (current >= 0) choose(current, null);
        break;
      case "u":
      case "Backspace":
        if (current >= 0) clearPick(current);
        break;
      case "z":
      case "Enter":
        if (row) openCompare(current, null);
        break;
      case "/":
        if (row) openSearch(current);
        break;
      case "s":
        toggleSummary();
        break;
      case "?":
        toggleHelp();
        break;
      case "Escape":
        helpEl.hidden = true;
        break;
      default:
        if (/^[1-9]$/.test(ev.key) && row) {
          const c = row.candidates[Number(ev.key) - 1];
          if (c) choose(current, c.path);
          break;
        }
        return;
    }
    ev.preventDefault();
  });

  // ---- start -----------------------------------------------------------------

  $("where").textContent = "album " + data.album + " \u00b7 results " + data.title;
  applyFilters();
  refreshAll();
  if (served) {
    $("export").hidden = false;
    setState("picks are saved to decisions.json as you make them", "ok");
    reload()
      .catch((err) => setState("cannot reach photomatch review (" + err.message + ")", "error"))
      .finally(() => {
        document.body.dataset.ready = "true";
      });
    // Back to this tab: show the picks made meanwhile in another one.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && !unsaved) reload().catch(() => {});
    });
  } else {
    setState("opened as a file: picks stay in this page until you download decisions.json", "warn");
    document.body.dataset.ready = "true";
  }
})();
