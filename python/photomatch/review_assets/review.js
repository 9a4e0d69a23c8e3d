// photomatch review page. Every name is rendered with textContent (never as HTML);
// the results come from the JSON data element; the only requests are the previews
// and, when served by `photomatch review`, the decisions on the same origin.
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("photomatch-data").textContent);
  const served = location.protocol === "http:" || location.protocol === "https:";
  const $ = (id) => document.getElementById(id);
  const rowsEl = $("rows");
  const zoomEl = $("zoom");
  const helpEl = $("help");
  const keyOf = (set, query) => JSON.stringify([set, query]);

  // Decisions: key -> picked candidate path, or null for "none of these".
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

  function preview(src, alt) {
    if (!src) return el("div", "nopreview", "no preview");
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

  // ---- rows -------------------------------------------------------------------

  const views = data.rows.map(build);

  function build(row, i) {
    const sec = el("section", "row status-" + row.status);
    sec.dataset.index = String(i);
    const query = el("figure", "query");
    const qimg = preview(row.preview, "thumbnail");
    qimg.addEventListener("click", (ev) => {
      ev.stopPropagation();
      setCurrent(i, false);
      zoom(i, chosenCandidate(row) || row.candidates[0] || null);
    });
    query.append(qimg, el("figcaption", "", "thumbnail"));

    const info = el("div", "info");
    const head = el("div", "head");
    head.append(el("span", "badge " + row.status, row.status));
    if (row.distance !== null && row.distance !== undefined) {
      head.append(el("span", "distance", row.distance + " bits"));
    }
    if (typeof row.score === "number") head.append(el("span", "score", "score " + row.score.toFixed(3)));
    if (typeof row.confidence === "number") {
      // The calibrated probability that the first candidate is the original.
      const sure = el("span", "confidence", "confidence " + (100 * row.confidence).toFixed(1) + "%");
      sure.title = "probability that the first candidate is this thumbnail's original";
      head.append(sure);
    }
    head.append(el("span", "set", "set " + row.set));
    const qname = el("div", "qname", row.name);
    qname.title = row.query;
    const decision = el("div", "decision");
    info.append(head, qname);
    if (row.skip_reason) info.append(el("div", "reason", row.skip_reason));
    if (row.note) info.append(el("div", "note", row.note));
    info.append(decision);

    const cands = el("ol", "cands");
    const items = row.candidates.map((c, n) => {
      const li = el("li", "cand");
      const top = el("div", "cand-head");
      top.append(el("kbd", "", n < 9 ? String(n + 1) : "\u00b7"));
      const pick = el("button", "pick", "pick");
      pick.type = "button";
      pick.addEventListener("click", (ev) => {
        ev.stopPropagation();
        setCurrent(i, false);
        choose(i, c.path);
      });
      top.append(pick);
      const img = preview(c.preview, "candidate " + (n + 1));
      img.addEventListener("click", (ev) => {
        ev.stopPropagation();
        setCurrent(i, false);
        zoom(i, c);
      });
      const path = el("div", "path", c.rel);
      path.title = c.path;
      const bits = [c.distance + " bits"];
      if (typeof c.score === "number") bits.push("score " + c.score.toFixed(3));
      bits.push(c.view);
      li.append(top, img, path, el("div", "meta", bits.join(" \u00b7 ")));
      if (c.variants && c.variants.length) {
        const v = el("div", "variants", "+ " + c.variants.length + " variant(s): " + c.variants.join(", "));
        li.append(v);
      }
      cands.append(li);
      return li;
    });
    let none = null;
    if (row.status !== "unreadable") {
      none = el("li", "cand none");
      const top = el("div", "cand-head");
      top.append(el("kbd", "", "0"));
      const btn = el("button", "pick", "none of these");
      btn.type = "button";
      btn.addEventListener("click", (ev) => {
        ev.stopPropagation();
        setCurrent(i, false);
        choose(i, null);
      });
      top.append(btn);
      const undo = el("button", "undo", "undo my pick");
      undo.type = "button";
      undo.addEventListener("click", (ev) => {
        ev.stopPropagation();
        setCurrent(i, false);
        clearPick(i);
      });
      none.append(top, el("div", "meta", "not exported"), undo);
      cands.append(none);
    }
    sec.append(query, info, cands);
    sec.addEventListener("click", () => setCurrent(i, false));
    rowsEl.append(sec);
    return { sec, decision, items, none };
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

  function chosenCandidate(row) {
    const p = chosenPath(row);
    return row.candidates.find((c) => c.path === p) || null;
  }

  function refresh(i) {
    const row = data.rows[i];
    const v = views[i];
    const mine = decided(row);
    const path = chosenPath(row);
    v.sec.classList.toggle("decided", mine);
    row.candidates.forEach((c, n) => v.items[n].classList.toggle("chosen", c.path === path));
    if (v.none) v.none.classList.toggle("chosen", mine && path === null);
    let text;
    if (row.status === "unreadable") {
      text = "could not be read: not exported";
    } else if (mine && path === null) {
      text = "your pick: none of these \u2014 not exported";
    } else if (mine) {
      const n = row.candidates.findIndex((c) => c.path === path);
      text = "your pick: " + (n < 0 ? path : n + 1 + " \u2014 exports " + row.candidates[n].rel);
    } else if (path) {
      const c = chosenCandidate(row);
      text = "photomatch's match \u2014 exports " + (c ? c.rel : path);
    } else if (row.candidates.length) {
      const n = Math.min(9, row.candidates.length);
      text = "not exported unless you pick one (" + (n > 1 ? "1\u2013" + n : "1") + ")";
    } else {
      text = "no candidate: not exported";
    }
    v.decision.textContent = text;
  }

  function refreshAll() {
    data.rows.forEach((_, i) => refresh(i));
    counts();
  }

  function counts() {
    const by = {};
    let mine = 0;
    for (const row of data.rows) {
      by[row.status] = (by[row.status] || 0) + 1;
      if (decided(row)) mine += 1;
    }
    const parts = [data.rows.length + " thumbnails"];
    for (const s of data.statuses) parts.push((by[s] || 0) + " " + s);
    parts.push(mine + " picked by you");
    parts.push(order.length + " shown");
    $("counts").textContent = parts.join(" \u00b7 ");
  }

  // ---- filters and the current row ----------------------------------------------

  const setSel = $("filter-set");
  const statusSel = $("filter-status");
  for (const name of data.sets) {
    const opt = el("option", "", name);
    opt.value = name;
    setSel.append(opt);
  }

  let order = []; // indices of the rows shown, in page order
  let current = -1;

  function shown(row) {
    if (setSel.value && row.set !== setSel.value) return false;
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

  function applyFilters() {
    order = [];
    data.rows.forEach((row, i) => {
      const on = shown(row);
      views[i].sec.hidden = !on;
      if (on) order.push(i);
    });
    $("empty").hidden = order.length > 0;
    if (!order.includes(current)) setCurrent(order.length ? order[0] : -1, true);
    counts();
  }

  function setCurrent(i, scroll) {
    if (current >= 0) views[current].sec.classList.remove("current");
    current = i;
    if (i < 0) return;
    const sec = views[i].sec;
    sec.classList.add("current");
    if (scroll) sec.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    if (!order.length) return;
    const at = order.indexOf(current);
    const next = at < 0 ? 0 : Math.min(order.length - 1, Math.max(0, at + step));
    setCurrent(order[next], true);
  }

  setSel.addEventListener("change", applyFilters);
  statusSel.addEventListener("change", applyFilters);

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

  async function send(body) {
    const resp = await fetch("decision", {
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
        doc = await send(body);
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
    return fetch("decisions", { cache: "no-store", credentials: "same-origin" })
      .then((resp) => {
        if (!resp.ok) throw new Error(resp.statusText);
        return resp.json();
      })
      .then((doc) => {
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

  // ---- zoom and help ---------------------------------------------------------

  function zoom(i, cand) {
    const row = data.rows[i];
    const a = $("zoom-a");
    const b = $("zoom-b");
    a.replaceChildren(preview(row.preview, "thumbnail"), el("figcaption", "", "thumbnail: " + row.name));
    if (cand) {
      const n = row.candidates.indexOf(cand) + 1;
      b.replaceChildren(
        preview(cand.preview, "candidate " + n),
        el("figcaption", "", n + ": " + cand.rel + " \u00b7 " + cand.distance + " bits"),
      );
    } else {
      b.replaceChildren();
    }
    zoomEl.hidden = false;
  }

  function closeZoom() {
    zoomEl.hidden = true;
  }

  zoomEl.addEventListener("click", closeZoom);

  function toggleHelp() {
    helpEl.hidden = !helpEl.hidden;
    $("help-button").setAttribute("aria-expanded", String(!helpEl.hidden));
  }
  $("help-button").addEventListener("click", toggleHelp);

  // ---- keyboard --------------------------------------------------------------

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const tag = ev.target && ev.target.tagName;
    if (tag === "SELECT" || tag === "INPUT" || tag === "TEXTAREA") return;
    if (tag === "BUTTON" && (ev.key === "Enter" || ev.key === " ")) return;
    if (!zoomEl.hidden && !/^[0-9n]$/.test(ev.key)) {
      if (ev.key === "Escape" || ev.key === "Enter" || ev.key === "z" || ev.key === " ") {
        closeZoom();
        ev.preventDefault();
      }
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
      case "0":
      case "n":
        closeZoom();
        if (current >= 0) choose(current, null);
        break;
      case "u":
      case "Backspace":
        if (current >= 0) clearPick(current);
        break;
      case "z":
      case "Enter":
        if (row) zoom(current, chosenCandidate(row) || row.candidates[0] || null);
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
          closeZoom();
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
