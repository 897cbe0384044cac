// The live parts of the landing page: module switches, the request feed, progress, settings.
//
// Everything comes from the same JSON API that curl and the notebooks use. Every URL is read
// from data- attributes that the template built with url_for, so the page keeps working when
// the sandbox is served under a prefix (/user/alice/proxy/5000/ on JupyterHub).
// Data is put into the page as text nodes only, never parsed as HTML: a request path or header
// is text a learner (or an attacker) typed, and must never become markup.
(() => {
  "use strict";

  const app = document.getElementById("sandbox");
  if (!app) return;
  const urls = app.dataset;
  const MAX_ROWS = 50;
  const COLUMNS = 7;

  // --- small helpers ---------------------------------------------------------------------

  /** Build an element: el("td", {class: "num", title: "..."}, "text", childNode...). */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const $ = (selector, scope = app) => scope.querySelector(selector);

  /** Fill a URL template rendered with a placeholder, e.g. .../traces/__ID__. */
  const fill = (template, placeholder, value) =>
    template.replace(placeholder, encodeURIComponent(value));

  /** The path the server records for one of our URLs: the URL without the app's prefix. */
  const appPath = (url) => {
    const path = url.split("?")[0];
    return path.startsWith(urls.root) ? path.slice(urls.root.length) : path;
  };

  /** Read a JSON answer; throw the problem's detail (RFC 9457) when it is an error. */
  async function readJSON(response) {
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : null;
    if (!response.ok) {
      const reason = data && (data.detail || data.title);
      throw new Error(reason || `${response.status} ${response.statusText}`);
    }
    return data;
  }

  // Requests this page made itself, by their X-Sandbox-Trace id: the feed need not react to them.
  const ownTraces = new Set();

  async function api(url, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    const response = await fetch(url, { ...options, headers });
    const trace = response.headers.get("X-Sandbox-Trace");
    if (trace) ownTraces.add(trace);
    return readJSON(response);
  }

  function clock(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return iso || "";
    return date.toLocaleTimeString([], { hour12: false });
  }

  const statusClass = (status) => (status ? `status status-${String(status)[0]}xx` : "status");
  const ms = (value) => (typeof value === "number" ? `${value.toFixed(1)} ms` : "–");

  function toast(message, kind = "info") {
    const box = $("[data-toasts]");
    const note = el("div", { class: `toast toast-${kind}` }, message);
    box.append(note);
    setTimeout(() => note.classList.add("toast-leaving"), 6000);
    setTimeout(() => note.remove(), 6500);
  }

  // --- modules ---------------------------------------------------------------------------

  const cards = () => [...app.querySelectorAll("[data-module]")];
  const cardOf = (name) => cards().find((card) => card.dataset.module === name);

  /** Show a module's state on its card, from the module JSON. */
  function showModule(card, module) {
    const on = Boolean(module.enabled);
    card.dataset.enabled = String(on);
    card.classList.toggle("is-off", !on);
    $("[data-toggle]", card).checked = on;
    $("[data-state]", card).textContent = on ? "On" : "Off";
  }

  function showModuleError(card, message) {
    const box = $("[data-error]", card);
    box.textContent = message || "";
    box.hidden = !message;
  }

  async function toggle(card, wanted) {
    const input = $("[data-toggle]", card);
    const hadFocus = document.activeElement === input;
    input.disabled = true;
    card.setAttribute("aria-busy", "true");
    showModuleError(card, "");
    try {
      const module = await api(fill(urls.toggleUrl, "__NAME__", card.dataset.module), {
        method: "PATCH",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ enabled: wanted }),
      });
      showModule(card, module);
    } catch (error) {
      showModule(card, { enabled: !wanted }); // the server did not change it: say so
      showModuleError(card, `Could not switch ${card.dataset.module}: ${error.message}`);
    } finally {
      input.disabled = false;
      card.removeAttribute("aria-busy");
      if (hadFocus) input.focus();
    }
  }

  async function loadModules() {
    const data = await api(urls.modulesUrl);
    for (const module of data.modules) {
      const card = cardOf(module.name);
      if (card) showModule(card, module);
    }
  }

  for (const card of cards()) {
    $("[data-toggle]", card).addEventListener("change", (event) =>
      toggle(card, event.target.checked),
    );
  }

  // --- the request table -----------------------------------------------------------------

  const tbody = $("[data-trace-rows]");
  const onlyModules = $("[data-only-modules]");
  const showOwn = $("[data-show-own]");

  // The page's own traffic: its calls to the inspector API (modules, progress, settings), its
  // static files and the browser's icon request. Hidden by default: the table shows what the
  // learner sent. (Paths as the server records them: without the prefix the app is served
  // under; the inspector's is the modules URL's folder.)
  const inspectorPath = appPath(urls.modulesUrl).replace(/[^/]*$/, "");
  const staticPath = appPath(urls.staticUrl);
  const faviconPath = appPath(urls.faviconUrl);
  const isOwn = (path) =>
    path.startsWith(inspectorPath) || path.startsWith(staticPath) || path === faviconPath;

  function updateEmpty() {
    const shown = [...tbody.querySelectorAll("tr.trace")].some(
      (row) =>
        !(row.classList.contains("trace-own") && !showOwn.checked) &&
        !(row.classList.contains("trace-core") && onlyModules.checked),
    );
    $("[data-traces-empty]").hidden = shown;
  }

  // --- compare: tick two rows, open them side by side --------------------------------------

  const picked = []; // record ids, the first ticked first (it is A)
  const compareLink = $("[data-compare-link]");

  function showPicked() {
    for (const box of tbody.querySelectorAll("[data-pick]")) {
      box.checked = picked.includes(box.dataset.pick);
    }
    compareLink.hidden = picked.length !== 2;
    if (picked.length === 2) {
      const query = new URLSearchParams({ a: picked[0], b: picked[1] });
      compareLink.href = `${urls.compareUrl}?${query}`;
    }
  }

  /** A box to tick a row for comparison; a third tick lets the oldest one go. */
  function pickBox(trace) {
    const box = el("input", {
      type: "checkbox",
      class: "pick",
      "data-pick": trace.id,
      "aria-label": `Compare ${trace.method} ${trace.path}`,
    });
    // The row opens its record on a click or a key: ticking the box must not.
    box.addEventListener("click", (event) => event.stopPropagation());
    box.addEventListener("keydown", (event) => event.stopPropagation());
    box.addEventListener("change", () => {
      const at = picked.indexOf(trace.id);
      if (box.checked && at < 0) picked.push(trace.id);
      if (!box.checked && at >= 0) picked.splice(at, 1);
      while (picked.length > 2) picked.shift();
      showPicked();
    });
    return box;
  }

  function traceRow(trace) {
    const row = el(
      "tr",
      {
        class: `trace${trace.module ? "" : " trace-core"}${isOwn(trace.path) ? " trace-own" : ""}`,
        tabindex: 0,
        "aria-expanded": "false",
        "data-trace": trace.id,
        "data-time": trace.time,
        "data-status": trace.status,
      },
      el("td", { class: "time", title: trace.time }, clock(trace.time)),
      // The box to tick for comparing, in a column a phone's width still shows.
      el("td", { class: "method" }, pickBox(trace), el("span", { class: "method-tag" }, trace.method)),
      el("td", { class: "path" }, el("code", {}, trace.path)),
      el("td", {}, el("span", { class: statusClass(trace.status) }, trace.status ?? "–")),
      el("td", { class: "module-cell" }, trace.module || el("span", { class: "muted" }, "core")),
      el("td", { class: "num" }, ms(trace.duration_ms)),
      el("td", { class: trace.sql_count ? "num" : "num muted" }, trace.sql_count ?? 0),
    );
    row.addEventListener("click", () => toggleDetails(row));
    row.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        toggleDetails(row);
      }
    });
    return row;
  }

  /** Add a request to the table, newest first; the same record twice is shown once. */
  function addTrace(trace) {
    if (tbody.querySelector(`tr[data-trace="${CSS.escape(trace.id)}"]`)) return;
    const row = traceRow(trace);
    const later = [...tbody.querySelectorAll("tr.trace")].find((r) => r.dataset.time < trace.time);
    tbody.insertBefore(row, later || null);
    const rows = tbody.querySelectorAll("tr.trace");
    for (const old of [...rows].slice(MAX_ROWS)) removeRow(old);
    updateEmpty();
  }

  function removeRow(row) {
    const details = row.nextElementSibling;
    if (details && details.classList.contains("trace-details")) details.remove();
    row.remove();
  }

  function clearTraces() {
    tbody.replaceChildren();
    picked.length = 0;
    showPicked();
    updateEmpty();
  }

  async function loadTraces() {
    const data = await api(urls.tracesUrl);
    for (const trace of data.traces) addTrace(trace);
  }

  async function toggleDetails(row) {
    const open = row.nextElementSibling;
    if (open && open.classList.contains("trace-details")) {
      open.remove();
      row.setAttribute("aria-expanded", "false");
      return;
    }
    const cell = el("td", { colspan: COLUMNS }, el("p", { class: "muted" }, "Loading…"));
    const details = el("tr", { class: "trace-details" }, cell);
    row.after(details);
    row.setAttribute("aria-expanded", "true");
    try {
      const record = await api(fill(urls.traceUrl, "__ID__", row.dataset.trace));
      cell.replaceChildren(recordView(record));
    } catch (error) {
      cell.replaceChildren(el("p", { class: "error-text" }, error.message));
    }
  }

  function headerTable(headers) {
    const entries = Object.entries(headers || {});
    if (!entries.length) return el("p", { class: "muted" }, "none");
    return el(
      "table",
      { class: "kv" },
      el("tbody", {}, ...entries.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))),
    );
  }

  function block(title, ...content) {
    return el("section", { class: "record-block" }, el("h4", {}, title), ...content);
  }

  function text(value) {
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  // --- the waterfall: the request's time as a bar, and each thing it did inside it ----------

  /** The record's phases, SQL and events in time order (as display.waterfall_rows does). */
  function waterfallRows(record) {
    const rows = (record.spans || []).map((s) => ({
      kind: "span", label: s.name, at: s.at_ms, took: s.duration_ms || 0, detail: s.name,
    }));
    for (const s of record.sql || []) {
      if (typeof s.at_ms !== "number") continue; // a record from before statements were timed
      let detail = s.sql;
      if (s.params) detail += `\nparams: ${JSON.stringify(s.params)}`;
      if (s.plan) detail += `\nplan:\n${s.plan.join("\n")}`;
      if (s.error) detail += `\nerror: ${s.error}`;
      rows.push({ kind: "sql", label: s.sql, at: s.at_ms, took: s.duration_ms || 0, detail });
    }
    for (const e of record.events || []) {
      if (typeof e.at_ms !== "number") continue;
      const label = `${e.module}: ${e.message}`;
      rows.push({ kind: "event", label, at: e.at_ms, took: 0, detail: label });
    }
    return rows.sort((a, b) => a.at - b.at); // stable: same moment, same order as recorded
  }

  /** Draw the waterfall as bars placed in percent of the whole: it fits any width. */
  function waterfall(record) {
    const total = record.duration_ms || 0;
    const rows = waterfallRows(record);
    if (!total || !rows.length) return null;
    const scale = Math.max(total, ...rows.map((r) => r.at + r.took));
    const whole = `${record.method} ${record.path}`;
    const line = (kind, label, at, took, detail) => {
      const left = (100 * at) / scale;
      const width = Math.min((100 * took) / scale, 100 - left);
      const bar = el("span", {
        class: `wf-bar wf-${kind}`,
        style: `left:${left.toFixed(2)}%;width:${width.toFixed(2)}%`,
        title: detail,
      });
      return el(
        "li",
        { class: `wf-row wf-row-${kind}`, title: detail, tabindex: 0,
          "aria-label": `${label}: at ${at.toFixed(2)} ms${kind === "event" ? "" : `, ${took.toFixed(2)} ms`}` },
        el("span", { class: "wf-label" }, label),
        el("span", { class: "wf-track" }, bar),
        el("span", { class: "wf-ms" }, kind === "event" ? "" : ms(took)),
      );
    };
    return el(
      "ol",
      { class: "wf", "data-waterfall": "" },
      line("request", whole, 0, total, `${whole}: ${ms(total)} in all`),
      ...rows.map((r) => line(r.kind, r.label, r.at, r.took, r.detail)),
    );
  }

  // --- "copy as": the record's request for curl, HTTPie, Python requests, JavaScript fetch ----

  const COPY_FORMATS = [["curl", "curl"], ["httpie", "HTTPie"], ["requests", "Python requests"],
                        ["fetch", "JavaScript fetch"]];

  /** Put text on the clipboard; where the Clipboard API is missing (plain http on another
      host), select it in a hidden text area and copy that, the older way. */
  async function toClipboard(value) {
    try {
      await navigator.clipboard.writeText(value);
      return true;
    } catch {
      const area = el("textarea", { class: "visually-hidden", "aria-hidden": "true" });
      area.value = value;
      document.body.append(area);
      area.select();
      let done = false;
      try {
        done = document.execCommand("copy");
      } catch {
        done = false;
      }
      area.remove();
      return done;
    }
  }

  /** Buttons that write the request as each tool sends it (the server writes it: the same
      code as the notebook's sb.trace().as_(...)), copy it, and show it with its notes. */
  function copyAs(record) {
    const shown = el("div", { class: "copy-shown", "data-copy-shown": "" });
    const buttons = COPY_FORMATS.map(([format, label]) => {
      const button = el("button", { type: "button", class: "button", "data-copy": format }, label);
      button.addEventListener("click", async () => {
        try {
          const url = fill(fill(urls.copyUrl, "__ID__", record.id), "__FORMAT__", format);
          const copy = await api(url);
          const copiedIt = await toClipboard(copy.command);
          shown.replaceChildren(
            el("p", { class: "muted", role: "status" },
              copiedIt ? `Copied as ${label}.` : `As ${label} (select and copy it):`),
            el("pre", { class: "code", "data-copy-command": format }, copy.command),
            ...copy.notes.map((note) => el("p", { class: "muted copy-note" }, note)),
          );
        } catch (error) {
          shown.replaceChildren(el("p", { class: "error-text" }, error.message));
        }
      });
      return button;
    });
    return block("Copy as", el("div", { class: "copy-buttons" }, ...buttons), shown);
  }

  /** Everything the sandbox recorded for one request, as a readable panel. */
  function recordView(record) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(record.query || {})) {
      for (const one of [].concat(value)) query.append(key, one);
    }
    const target = record.path + (query.toString() ? `?${query}` : "");
    const request = record.request || {};
    const response = record.response || {};

    const summary = el(
      "p",
      { class: "record-line" },
      el("code", {}, `${record.method} ${target}`),
      " → ",
      el("span", { class: statusClass(record.status) }, record.status ?? "–"),
      el(
        "span",
        { class: "muted" },
        `  ${ms(record.duration_ms)} · ${record.module || "core"} · ${record.time} · id `,
      ),
      el("a", { href: fill(urls.traceUrl, "__ID__", record.id), target: "_blank" }, record.id),
      // With several worker processes (--workers), which one answered.
      ...(record.worker ? [el("span", { class: "muted" }, ` · worker process ${record.worker}`)] : []),
      // Work done outside a request (a job) names the request that caused it.
      ...(record.parent
        ? [
            el("span", { class: "muted" }, ` · on thread ${record.thread}, caused by `),
            el(
              "a",
              { href: fill(urls.traceUrl, "__ID__", record.parent), target: "_blank" },
              record.parent,
            ),
          ]
        : []),
    );

    const sql = record.sql || [];
    const sqlList = sql.length
      ? el(
          "ol",
          { class: "sql-list" },
          ...sql.map((s) =>
            el(
              "li",
              {},
              el("pre", { class: "code" }, s.sql),
              el(
                "p",
                { class: "muted" },
                `${ms(s.duration_ms)}`,
                s.params && s.params.length ? ` · params ${JSON.stringify(s.params)}` : "",
              ),
            ),
          ),
        )
      : el("p", { class: "muted" }, "No SQL statements.");
    const dropped = record.sql_dropped
      ? el("p", { class: "muted" }, `…and ${record.sql_dropped} more statements not kept.`)
      : null;

    const events = record.events || [];
    const eventList = events.length
      ? el(
          "ul",
          { class: "event-list" },
          ...events.map((e) =>
            el("li", {}, el("span", { class: "tag" }, e.module), " ", e.message),
          ),
        )
      : el("p", { class: "muted" }, "No events.");

    const picture = waterfall(record);
    const parts = [
      summary,
      // Work done outside a request (a job) has no request to copy.
      record.parent ? null : copyAs(record),
      picture &&
        block("Waterfall", el("p", { class: "muted" },
          "Hover or focus a bar: a statement's text, parameters and plan."), picture),
      el(
        "div",
        { class: "record-grid" },
        block(
          "Request",
          headerTable(request.headers),
          request.body !== null && request.body !== undefined
            ? el("pre", { class: "code" }, text(request.body))
            : el("p", { class: "muted" }, "No body."),
        ),
        block(
          "Response",
          headerTable(response.headers),
          el(
            "p",
            { class: "muted" },
            typeof response.size === "number" ? `${response.size} bytes` : "Streamed body.",
          ),
        ),
      ),
      block(`SQL (${sql.length + (record.sql_dropped || 0)})`, sqlList, dropped),
      block(`Events (${events.length})`, eventList),
    ];
    if (record.exception) {
      parts.push(
        block(
          "Exception",
          el(
            "p",
            { class: "error-text" },
            `${record.exception.type}: ${record.exception.message}`,
          ),
          el("pre", { class: "code" }, record.exception.traceback || ""),
        ),
      );
    }
    return el("div", { class: "record" }, ...parts);
  }

  function applyFilter() {
    app.classList.toggle("only-modules", onlyModules.checked);
    app.classList.toggle("hide-own", !showOwn.checked);
    try {
      localStorage.setItem("sandbox.onlyModules", onlyModules.checked ? "1" : "");
      localStorage.setItem("sandbox.showOwn", showOwn.checked ? "1" : "");
    } catch {
      /* storage can be off; the filter still works for this visit */
    }
    updateEmpty();
  }
  try {
    onlyModules.checked = localStorage.getItem("sandbox.onlyModules") === "1";
    showOwn.checked = localStorage.getItem("sandbox.showOwn") === "1";
  } catch {
    /* as above */
  }
  onlyModules.addEventListener("change", applyFilter);
  showOwn.addEventListener("change", applyFilter);
  applyFilter();

  // --- progress --------------------------------------------------------------------------

  const challengeGroups = $("[data-challenges]");

  function challengeItem(c) {
    const solved = Boolean(c.solved);
    const meta = solved
      ? el(
          "p",
          { class: "challenge-meta" },
          c.solved_at ? `Solved at ${clock(c.solved_at)}` : "Solved",
          c.trace_id ? " by request " : "",
          c.trace_id
            ? el("a", { href: fill(urls.traceUrl, "__ID__", c.trace_id), target: "_blank" },
                c.trace_id)
            : "",
        )
      : el("p", { class: "challenge-meta" }, "Hint: ", c.hint);
    return el(
      "li",
      { class: solved ? "challenge is-solved" : "challenge", "data-challenge": c.id,
        "data-solved": String(solved) },
      el("span", { class: "challenge-mark", "aria-hidden": "true" }, solved ? "✓" : ""),
      el(
        "div",
        { class: "challenge-body" },
        el("p", { class: "challenge-title" }, c.title),
        el("p", { class: "visually-hidden" }, solved ? "Solved." : "Not solved yet."),
        meta,
      ),
    );
  }

  let challenges = [];

  function challengeSections(list) {
    // One group per module, in the order the modules come.
    const byModule = new Map();
    for (const c of list) {
      if (!byModule.has(c.module)) byModule.set(c.module, []);
      byModule.get(c.module).push(c);
    }
    return [...byModule].map(([module, group]) => {
      const card = cardOf(module);
      const title = card ? $(".module-title", card).textContent : module;
      const done = group.filter((c) => c.solved).length;
      return el(
        "section",
        { class: "challenge-group", "data-challenge-module": module },
        el("h3", {}, title, " ", el("span", { class: "muted" }, `${done} of ${group.length}`)),
        el("ul", { class: "challenges" }, ...group.map(challengeItem)),
      );
    });
  }

  function showProgress() {
    // In a class, the instructor may choose the challenges that count: those come first
    // and make the count; the others stay solvable, folded away below.
    const counted = challenges.filter((c) => c.in_scope !== false);
    const others = challenges.filter((c) => c.in_scope === false);
    challengeGroups.replaceChildren(...challengeSections(counted));
    if (others.length) {
      challengeGroups.append(
        el(
          "details",
          { class: "challenges-out-of-scope", "data-out-of-scope": "" },
          el("summary", {}, `${others.length} more, not counted in this class`),
          ...challengeSections(others),
        ),
      );
    }
    if (!challenges.length) {
      challengeGroups.append(el("p", { class: "muted" }, "No challenges yet."));
    }
    const solved = counted.filter((c) => c.solved).length;
    $("[data-progress-count]").textContent = `${solved} of ${counted.length} solved`;
    const bar = $("[data-progress-bar]");
    bar.max = Math.max(counted.length, 1);
    bar.value = solved;
  }

  async function loadProgress() {
    challenges = (await api(urls.progressUrl)).challenges;
    showProgress();
  }

  function onChallenge(solved) {
    const known = challenges.find((c) => c.id === solved.id);
    if (known) {
      Object.assign(known, { solved: true, solved_at: new Date().toISOString(),
                             trace_id: solved.trace_id });
      showProgress();
    } else {
      loadProgress().catch(() => {});
    }
    toast(`Challenge solved: ${solved.title}`, "success");
  }

  // --- settings --------------------------------------------------------------------------

  async function loadSettings() {
    const data = await api(urls.settingsUrl);
    $("[data-settings]").replaceChildren(
      ...data.settings.map((s) => {
        const changed = JSON.stringify(s.value) !== JSON.stringify(s.default);
        return el(
          "tr",
          {},
          el("th", { scope: "row" }, el("code", {}, s.name)),
          el(
            "td",
            {},
            el("code", {}, JSON.stringify(s.value)),
            changed ? el("span", { class: "muted" }, ` (default ${JSON.stringify(s.default)})`) : "",
          ),
          el("td", {}, s.help),
        );
      }),
    );
  }

  // --- reset -----------------------------------------------------------------------------

  async function reloadAll() {
    clearTraces();
    await Promise.all([loadModules(), loadProgress(), loadTraces()]);
  }

  $("[data-reset]").addEventListener("click", async (event) => {
    const question =
      "Reset the sandbox? Data, module switches and progress go back to the start, " +
      "and the recorded requests are forgotten.";
    if (!window.confirm(question)) return;
    const button = event.currentTarget;
    button.disabled = true;
    try {
      await api(urls.resetUrl, { method: "POST" });
      await reloadAll();
      toast("The sandbox is back at the start.", "success");
    } catch (error) {
      toast(`Reset failed: ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
  });

  // --- snapshots -------------------------------------------------------------------------

  const snapshotForm = $("[data-snapshot-form]");
  const snapshotName = $("#snapshot-name");

  async function loadSnapshots() {
    const data = await api(urls.snapshotsUrl);
    const rows = data.snapshots.map((snapshot) =>
      el(
        "tr",
        { "data-snapshot": snapshot.name },
        el(
          "th",
          { scope: "row" },
          el("code", {}, snapshot.name),
          // A class's hand-out (class:<name>): restored into this workspace, never deleted here.
          snapshot.from ? el("span", { class: "muted snapshot-from" }, ` from ${snapshot.from}`) : null,
        ),
        el("td", {}, el("time", { datetime: snapshot.created_at }, clock(snapshot.created_at))),
        el("td", { class: "num wide-only" }, snapshot.notes),
        el("td", { class: "num wide-only" }, snapshot.rows),
        el(
          "td",
          { class: "snapshot-actions" },
          el("button", { type: "button", class: "button", "data-restore": "" }, "Restore"),
          snapshot.from
            ? null
            : el("button", { type: "button", class: "button button-danger", "data-delete": "" }, "Delete"),
        ),
      ),
    );
    $("[data-snapshots]").replaceChildren(...rows);
    $("[data-snapshots-table]").hidden = rows.length === 0;
    $("[data-snapshots-empty]").hidden = rows.length > 0;
  }

  snapshotForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = snapshotName.value.trim();
    const button = snapshotForm.querySelector("button");
    button.disabled = true;
    try {
      await api(urls.snapshotsUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name }),
      });
      snapshotName.value = "";
      snapshotName.removeAttribute("aria-invalid");
      await loadSnapshots();
      toast(`Snapshot ${name} saved.`, "success");
    } catch (error) {
      snapshotName.setAttribute("aria-invalid", "true");
      toast(`Could not save the snapshot: ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
  });

  $("[data-snapshots]").addEventListener("click", async (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const name = button.closest("tr").dataset.snapshot;
    const restoring = "restore" in button.dataset;
    const question = restoring
      ? `Restore ${name}? Notes, accounts, keys, switches and progress go back to that moment.`
      : `Delete the snapshot ${name}?`;
    if (!window.confirm(question)) return;
    button.disabled = true;
    try {
      if (restoring) {
        await api(fill(urls.restoreUrl, "__NAME__", name), { method: "POST" });
        await Promise.all([loadModules(), loadProgress()]);
        toast(`Back to ${name}.`, "success");
      } else {
        await api(fill(urls.snapshotUrl, "__NAME__", name), { method: "DELETE" });
        await loadSnapshots();
        toast(`Snapshot ${name} deleted.`, "success");
      }
    } catch (error) {
      toast(`${restoring ? "Restore" : "Delete"} failed: ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
  });

  // --- the live feed ---------------------------------------------------------------------

  const live = $("[data-live]");
  function setLive(state, label) {
    live.dataset.live = state;
    live.textContent = label;
  }

  // A switch flipped or a reset done elsewhere (a notebook, curl) shows here too.
  const modulesPath = appPath(urls.modulesUrl);
  const resetPath = appPath(urls.resetUrl);
  const snapshotsPath = appPath(urls.snapshotsUrl);
  let refresh = null;
  // Error tracking: the count of server errors (5xx) goes up as they happen.
  const errorCount = document.querySelector("[data-error-count]");
  function countError(trace) {
    if (!errorCount || !(trace.status >= 500)) return;
    const count = Number(errorCount.dataset.errorCount) + 1;
    errorCount.dataset.errorCount = count;
    errorCount.querySelector("b").textContent = count;
    errorCount.classList.remove("none");
  }

  function onTrace(trace) {
    addTrace(trace);
    countError(trace);
    const snapshot = trace.path.startsWith(snapshotsPath) && trace.method !== "GET";
    const restored = snapshot && trace.path.endsWith("/restore");
    const changesState =
      (trace.method === "PATCH" && trace.path.startsWith(`${modulesPath}/`)) ||
      (trace.method === "POST" && trace.path === resetPath) ||
      snapshot;
    if (!changesState || trace.status >= 400) return;
    // Wait a moment: our own PATCH may be announced before its answer reaches us.
    clearTimeout(refresh);
    refresh = setTimeout(() => {
      if (ownTraces.has(trace.id)) return;
      let reload;
      if (restored) reload = Promise.all([loadModules(), loadProgress(), loadSnapshots()]);
      else if (snapshot) reload = loadSnapshots();
      else reload = trace.path === resetPath ? reloadAll() : loadModules();
      reload.catch(() => {});
    }, 300);
  }

  function connect() {
    const source = new EventSource(urls.streamUrl);
    source.addEventListener("open", () => {
      setLive("on", "live");
      // The server ends the stream every 30 s; catch up on what came between two connections.
      loadTraces().catch(() => {});
    });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) {
        // Refused outright (not just ended): EventSource gives up, so try again ourselves.
        setLive("off", "offline");
        setTimeout(connect, 5000);
      } else {
        setLive("connecting", "reconnecting");
      }
    });
    source.addEventListener("trace", (event) => onTrace(JSON.parse(event.data)));
    source.addEventListener("challenge", (event) => onChallenge(JSON.parse(event.data)));
    // Away too long for the server to replay what we missed: load everything again.
    source.addEventListener("missed", () => reloadAll().catch(() => {}));
  }

  updateEmpty();
  // Beyond loopback without the operator token, every call below would be refused: the page
  // says once what to do (the notice above the modules) instead of a toast for each.
  if ("locked" in urls) {
    setLive("off", "needs the operator token");
    return;
  }
  connect();
  loadTraces().catch((error) => toast(`Could not load requests: ${error.message}`, "error"));
  loadProgress().catch((error) => toast(`Could not load progress: ${error.message}`, "error"));
  loadSettings().catch((error) => toast(`Could not load settings: ${error.message}`, "error"));
  loadSnapshots().catch((error) => toast(`Could not load snapshots: ${error.message}`, "error"));
})();
