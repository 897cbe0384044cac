// The instructor's dashboard: the room, live.
//
// Every two seconds the page asks the same JSON a notebook reads (GET /class/api/students and
// /class/api/room) and redraws what changed. Polling, not a live feed: one small answer for the
// whole room, however many students there are, and nothing held open on the server.
// Every URL comes from data- attributes built with url_for; data goes into the page as text
// only (a student's name is text they typed, and must never become markup). Every action asks
// for confirmation first, and sends the page's CSRF token, which no other site can read.
(() => {
  "use strict";

  const app = document.getElementById("class-dashboard");
  if (!app) return;
  const urls = app.dataset;
  const POLL_MS = 2000;
  const STUCK_SECONDS = 300;

  // --- small helpers ---------------------------------------------------------------------

  /** Build an element: el("td", {class: "num"}, "text", childNode...). */
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const $ = (selector, scope = app) => scope.querySelector(selector);
  const fill = (template, values) =>
    Object.entries(values).reduce(
      (url, [key, value]) => url.replace(key, encodeURIComponent(value)),
      template,
    );

  async function api(url, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    if (options.method && options.method !== "GET") headers["X-CSRF-Token"] = urls.csrf;
    const response = await fetch(url, { ...options, headers });
    const type = response.headers.get("Content-Type") || "";
    const data = type.includes("json") ? await response.json() : null;
    if (!response.ok) {
      if (response.status === 401) window.location.reload(); // logged out: the login page
      throw new Error((data && (data.detail || data.title)) || `${response.status}`);
    }
    return data;
  }

  const sendJSON = (url, method, body) =>
    api(url, {
      method,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });

  // The server's clock, not this computer's, decides what "12 s ago" means.
  let skew = 0;
  const age = (iso) => (Date.now() - skew - Date.parse(iso)) / 1000;

  function ago(iso) {
    if (!iso) return "–";
    const seconds = Math.max(0, Math.round(age(iso)));
    if (seconds < 60) return `${seconds} s ago`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    return `${Math.floor(seconds / 3600)} h ago`;
  }

  const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "");
  const statusClass = (status) => `status status-${String(status)[0]}xx`;

  function toast(message, kind = "info") {
    const note = el("div", { class: `toast toast-${kind}` }, message);
    $("[data-toasts]").append(note);
    setTimeout(() => note.classList.add("toast-leaving"), 6000);
    setTimeout(() => note.remove(), 6500);
  }

  // --- confirmation ----------------------------------------------------------------------

  const dialog = $("[data-confirm]");

  /** Ask before an action; resolves to true only when the instructor confirms. */
  function confirmAction(title, text, okLabel) {
    $("[data-confirm-title]", dialog).textContent = title;
    $("[data-confirm-text]", dialog).textContent = text;
    $("[data-confirm-ok]", dialog).textContent = okLabel;
    dialog.returnValue = "";
    dialog.showModal();
    $("[data-confirm-cancel]", dialog).focus(); // the safe choice has the focus
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), {
        once: true,
      });
    });
  }

  /** Confirm, run, say how it went, and refresh what it changed. */
  async function act(question, run, done) {
    if (!(await confirmAction(...question))) return;
    try {
      const result = await run();
      toast(done(result), "success");
    } catch (error) {
      toast(error.message, "error");
    }
    await refresh();
    loadActions();
  }

  // --- state -----------------------------------------------------------------------------

  const view = { students: [], room: null, total: 0, sort: "joined_at", open: null };

  // --- the room --------------------------------------------------------------------------

  function showRoom(room) {
    view.room = room;
    const join = room.join;
    $("[data-code]").textContent = join.code;
    $("[data-code]").classList.toggle("is-expired", join.expired);
    let state = "Works until you expire it.";
    if (join.expired) state = "Expired: nobody new can join. Make a new code to let them.";
    else if (join.expires_at) state = `Works until ${clock(join.expires_at)}.`;
    $("[data-code-state]").textContent = state;
    $("[data-expire]").disabled = join.expired;
    $("[data-join-url]").textContent = join.url;
    $("[data-join-url]").href = join.url;
    $("[data-max]").textContent = ` / ${join.max_workspaces}`;
    $("[data-scope]").textContent = room.challenges.length;
    const preset = room.preset;
    $("[data-preset-file]").textContent = preset.file
      ? `From ${preset.file}`
      : "No preset file: every module as on a laptop, all switchable, every challenge counts.";
    const list = (value, all) => (value === null ? all : value.join(", ") || "none");
    const facts = [
      ["Room", preset.name],
      ["Modules on at start", list(preset.modules_on, "each module's default")],
      ["Students may switch", list(preset.switchable, "every module")],
      ["Challenges in scope", list(preset.challenges_in_scope, "all")],
      ["Code expires after", preset.join_code_expires_after_minutes ? `${preset.join_code_expires_after_minutes} min` : "never"],
      ["Workspaces allowed", join.max_workspaces],
    ];
    $("[data-preset-facts]").replaceChildren(
      ...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]),
    );
    const text = $("[data-preset-text]");
    text.textContent = room.preset_text;
    text.hidden = !room.preset_text;
    showModules(room.modules, join.students);
  }

  function showModules(modules, students) {
    const rows = modules.map((m) =>
      el(
        "tr",
        { "data-module-row": m.name },
        el("th", { scope: "row" }, el("code", {}, m.name), el("span", { class: "class-sub" }, m.title)),
        el(
          "td",
          { "data-label": "For the class" },
          el("span", { class: m.enabled ? "class-on" : "class-off" }, m.enabled ? "On" : "Off"),
        ),
        el("td", { "data-label": "On in" }, `${m.on_in} of ${students}`),
        el(
          "td",
          { "data-label": "Students may switch" },
          m.locked ? el("span", { class: "class-lock" }, "Locked") : "Yes",
        ),
        el(
          "td",
          { class: "class-row-actions" },
          el(
            "button",
            { type: "button", class: "button", "data-switch": m.name, "data-to": String(!m.enabled) },
            m.enabled ? "Off for everyone" : "On for everyone",
          ),
          el(
            "button",
            { type: "button", class: "button", "data-lock": m.name, "data-to": String(!m.locked) },
            m.locked ? "Unlock" : "Lock",
          ),
        ),
      ),
    );
    $("[data-module-rows]").replaceChildren(...rows);
  }

  // --- the students ----------------------------------------------------------------------

  function matches(student) {
    const text = $("[data-filter-text]").value.trim().toLowerCase();
    if (text && !student.name.toLowerCase().includes(text)) return false;
    const error = student.last_error;
    switch ($("[data-filter-kind]").value) {
      case "stuck":
        return Boolean(error) && age(error.time) <= STUCK_SECONDS;
      case "active":
        return student.requests_last_minute > 0;
      case "idle":
        return !student.last_activity || age(student.last_activity) >= STUCK_SECONDS;
      case "none":
        return student.solved === 0;
      case "switched":
        return student.switched.length > 0;
      default:
        return true;
    }
  }

  const SORTS = {
    joined_at: (s) => s.joined_at,
    name: (s) => s.name.toLowerCase(),
    solved: (s) => s.solved,
    last_activity: (s) => s.last_activity || "",
    requests_last_minute: (s) => s.requests_last_minute,
  };

  function sorted(students) {
    const descending = view.sort.startsWith("-");
    const key = SORTS[view.sort.replace("-", "")];
    return [...students].sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      const order = x < y ? -1 : x > y ? 1 : 0;
      return descending ? -order : order;
    });
  }

  function progressCell(student) {
    const chips = Object.entries(student.progress).map(([module, counts]) =>
      el(
        "li",
        { class: counts.solved === counts.total && counts.total ? "class-chip is-done" : "class-chip" },
        `${module} ${counts.solved}/${counts.total}`,
      ),
    );
    return el(
      "td",
      { class: "class-progress", "data-label": "Progress" },
      el(
        "div",
        { class: "class-progress-line" },
        el("progress", { value: student.solved, max: student.total || 1 }),
        el("span", { "data-solved": student.workspace }, `${student.solved}/${student.total}`),
      ),
      el("ul", { class: "class-chips" }, chips),
    );
  }

  function errorCell(student) {
    const error = student.last_error;
    if (!error) return el("td", { "data-label": "Last error" }, el("span", { class: "muted" }, "none"));
    return el(
      "td",
      { "data-label": "Last error" },
      el(
        "a",
        {
          href: "#student",
          class: "class-error",
          "data-open": student.workspace,
          "data-record": error.trace_id,
          title: `${error.method} ${error.path}: open its record`,
        },
        el("span", { class: statusClass(error.status) }, error.status),
        " ",
        el("code", {}, `${error.method} ${error.path}`),
      ),
      el("span", { class: "class-sub", "data-ago": error.time }, ago(error.time)),
    );
  }

  function studentRow(student) {
    return el(
      "tr",
      { "data-student": student.workspace },
      el(
        "th",
        { scope: "row", "data-label": "Student" },
        el("a", { href: "#student", "data-open": student.workspace, class: "class-name" }, student.name),
        el("span", { class: "class-sub" }, `joined ${clock(student.joined_at)}`),
      ),
      progressCell(student),
      el("td", { "data-label": "Last activity", "data-ago": student.last_activity || "" }, ago(student.last_activity)),
      el("td", { class: "num", "data-label": "Req/min" }, student.requests_last_minute),
      errorCell(student),
      el(
        "td",
        { "data-label": "Switched" },
        student.switched.length
          ? el(
              "ul",
              { class: "class-chips" },
              student.switched.map((m) =>
                el("li", { class: "class-chip is-switched" }, `${m.name} ${m.enabled ? "on" : "off"}`),
              ),
            )
          : el("span", { class: "muted" }, "none"),
      ),
      el(
        "td",
        { class: "class-row-actions" },
        el(
          "button",
          { type: "button", class: "button button-danger", "data-reset": student.workspace },
          "Reset",
        ),
      ),
    );
  }

  /** Redraw the table: a row is rebuilt only when its student changed (focus stays put). */
  function showStudents() {
    const body = $("[data-student-rows]");
    const existing = new Map([...body.children].map((row) => [row.dataset.student, row]));
    const wanted = sorted(view.students.filter(matches));
    const rows = wanted.map((student) => {
      const signature = JSON.stringify(student);
      let row = existing.get(student.workspace);
      if (!row || row.dataset.signature !== signature) {
        const fresh = studentRow(student);
        fresh.dataset.signature = signature;
        if (row) row.replaceWith(fresh);
        row = fresh;
      }
      for (const cell of row.querySelectorAll("[data-ago]")) {
        cell.textContent = ago(cell.dataset.ago);
      }
      return row;
    });
    const inOrder = rows.every((row, i) => body.children[i] === row);
    if (!inOrder || body.children.length !== rows.length) body.replaceChildren(...rows);
    $("[data-students-empty]").hidden = view.students.length > 0;
    if (view.students.length && !rows.length) {
      $("[data-students-empty]").hidden = false;
      $("[data-students-empty]").textContent = "No student matches the filter.";
    } else {
      $("[data-students-empty]").textContent = "No student has joined yet. Give them the join code above.";
    }
    $("[data-count]").textContent = view.students.length;
    $("[data-active]").textContent = view.students.filter((s) => s.requests_last_minute).length;
    const solved = view.students.reduce((sum, s) => sum + s.solved, 0);
    const possible = view.students.length * view.total;
    $("[data-solved-note]").textContent = possible
      ? `${solved} of ${possible} solved across the room (${Math.round((100 * solved) / possible)}%)`
      : "";
    for (const button of app.querySelectorAll("[data-sort-key]")) {
      const key = button.dataset.sortKey;
      const state = view.sort === key ? "ascending" : view.sort === `-${key}` ? "descending" : null;
      const header = button.closest("th");
      if (state) header.setAttribute("aria-sort", state);
      else header.removeAttribute("aria-sort");
    }
  }

  async function loadStudents() {
    const data = await api(urls.studentsUrl);
    skew = Date.now() - Date.parse(data.at);
    view.students = data.students;
    view.total = data.total;
    showStudents();
  }

  // --- one student -----------------------------------------------------------------------

  const detail = $("[data-detail]");

  async function openStudent(workspace, record) {
    if (workspace !== view.open) $("[data-detail-record]").hidden = true;
    view.open = workspace;
    detail.hidden = false;
    await Promise.all([loadDetail(), loadSnapshotChoices()]);
    if (record) await showRecord(record);
    detail.scrollIntoView({ block: "start" });
  }

  async function loadDetail() {
    if (!view.open) return;
    const data = await api(fill(urls.studentUrl, { __WS__: view.open }));
    $("[data-detail-name]").textContent = `${data.name}: ${data.solved}/${data.total} solved`;
    $("[data-detail-ws]").textContent = data.workspace;
    const byModule = new Map();
    for (const c of data.challenges) {
      if (!byModule.has(c.module)) byModule.set(c.module, []);
      byModule.get(c.module).push(c);
    }
    $("[data-detail-progress]").replaceChildren(
      ...[...byModule].map(([module, challenges]) =>
        el(
          "div",
          { class: "class-detail-module" },
          el("h4", {}, module),
          el(
            "ul",
            { class: "class-challenges" },
            challenges.map((c) =>
              el(
                "li",
                { class: c.solved ? "is-solved" : "", "data-challenge": c.id },
                el("span", { class: "class-mark", "aria-hidden": "true" }, c.solved ? "✓" : ""),
                el("span", {}, c.title),
                c.solved ? el("span", { class: "class-sub" }, ` ${clock(c.solved_at)}`) : null,
                el("span", { class: "visually-hidden" }, c.solved ? " (solved)" : " (not yet)"),
              ),
            ),
          ),
        ),
      ),
    );
    $("[data-detail-modules]").replaceChildren(
      ...data.modules.map((m) =>
        el(
          "li",
          { class: m.enabled === m.class_state ? "class-chip" : "class-chip is-switched" },
          `${m.name} ${m.enabled ? "on" : "off"}${m.locked ? " (locked)" : ""}`,
        ),
      ),
    );
    const rows = data.records.map((r) =>
      el(
        "tr",
        { class: "trace", tabindex: 0, "data-record": r.id, "data-open": data.workspace },
        el("td", { class: "time" }, clock(r.time)),
        el("td", { class: "path" }, el("span", { class: "method-tag" }, r.method), " ", el("code", {}, r.path)),
        el("td", {}, el("span", { class: statusClass(r.status) }, r.status ?? "–")),
      ),
    );
    const shown = $("[data-detail-record]");
    for (const row of rows) {
      row.classList.toggle("is-open", !shown.hidden && row.dataset.record === shown.dataset.record);
    }
    $("[data-detail-records]").replaceChildren(...rows);
    $("[data-detail-records-empty]").hidden = rows.length > 0;
  }

  async function showRecord(traceId) {
    const box = $("[data-detail-record]");
    let record;
    try {
      record = await api(fill(urls.recordUrl, { __WS__: view.open, __ID__: traceId }));
    } catch (error) {
      box.replaceChildren(el("p", { class: "error-text" }, error.message));
      box.hidden = false;
      return;
    }
    const pairs = (headers) =>
      el(
        "dl",
        { class: "class-headers" },
        Object.entries(headers || {}).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]),
      );
    const parts = [
      el(
        "p",
        { class: "record-line" },
        el("span", { class: "method-tag" }, record.method),
        " ",
        el("code", {}, record.path),
        " ",
        el("span", { class: statusClass(record.status) }, record.status),
      ),
      el("p", { class: "class-sub" }, `${clock(record.time)} · ${record.duration_ms ?? "–"} ms · record ${record.id}`),
      el("details", {}, el("summary", {}, "Request headers"), pairs(record.request.headers)),
      record.request.body ? el("pre", { class: "class-body-text" }, record.request.body) : null,
      el("details", {}, el("summary", {}, "Response headers"), pairs(record.response.headers)),
      el("h4", {}, `SQL (${record.sql.length})`),
      record.sql.length
        ? el("ol", { class: "sql-list" }, record.sql.map((s) => el("li", {}, el("code", {}, s.sql))))
        : null,
      el("h4", {}, `Events (${record.events.length})`),
      record.events.length
        ? el(
            "ul",
            { class: "event-list" },
            record.events.map((e) => el("li", {}, el("strong", {}, e.module), ": ", e.message)),
          )
        : null,
      record.exception ? el("pre", { class: "class-body-text" }, record.exception.traceback) : null,
    ];
    box.replaceChildren(...parts.filter(Boolean));
    for (const row of app.querySelectorAll("[data-detail-records] tr")) {
      row.classList.toggle("is-open", row.dataset.record === traceId);
    }
    box.dataset.record = traceId;
    box.hidden = false;
  }

  // --- hand-outs --------------------------------------------------------------------------

  async function loadHandouts() {
    const data = await api(urls.handoutsUrl);
    $("[data-handout-rows]").replaceChildren(
      ...data.handouts.map((h) =>
        el(
          "tr",
          {},
          el("td", {}, el("code", {}, `class:${h.name}`)),
          el("td", {}, nameOf(h.taken_of)),
          el("td", { class: "num" }, h.notes),
          el("td", {}, h.starts_new_students ? "start from it" : "–"),
          el(
            "td",
            { class: "class-buttons" },
            el("button", { type: "button", class: "button", "data-handout-toggle": h.name, "data-to": String(!h.starts_new_students) },
              h.starts_new_students ? "Stop giving it to new students" : "Give it to new students"),
            el("button", { type: "button", class: "button button-danger", "data-handout-delete": h.name }, "Delete"),
          ),
        ),
      ),
    );
    $("[data-handouts-empty]").hidden = data.handouts.length > 0;
  }

  /** Fill the hand-out form's choice of states with the open workspace's snapshots. */
  async function loadSnapshotChoices() {
    const select = $("[data-handout-snapshot]");
    const data = await api(fill(urls.studentSnapshotsUrl, { __WS__: view.open }));
    select.replaceChildren(
      el("option", { value: "" }, "as it is now"),
      ...data.snapshots.map((s) => el("option", { value: s.name }, `snapshot ${s.name} (${s.notes} notes)`)),
    );
  }

  $("[data-handout-form]").addEventListener("submit", (event) => {
    event.preventDefault();
    const workspace = view.open;
    const name = $("[data-handout-name]").value;
    const snapshot = $("[data-handout-snapshot]").value || null;
    const start = $("[data-handout-start]").checked;
    act(
      [`Hand out class:${name}?`, `Every student may restore ${snapshot ? `the snapshot ${snapshot}` : "the state now"} of ${nameOf(workspace)}'s workspace into their own${start ? "; students who join from now start from it" : ""}.`, "Hand out"],
      () => sendJSON(urls.handoutsUrl, "POST", { name, workspace, snapshot, start }),
      () => `Handed out: students restore class:${name}.`,
    );
  });

  // --- what instructors did --------------------------------------------------------------

  async function loadActions() {
    try {
      const data = await api(`${urls.actionsUrl}?limit=20`);
      $("[data-actions]").replaceChildren(
        ...data.actions.map((a) =>
          el("li", {}, el("time", { datetime: a.at }, clock(a.at)), " ", el("strong", {}, a.instructor), ` ${a.detail}`),
        ),
      );
      $("[data-actions-empty]").hidden = data.actions.length > 0;
    } catch (error) {
      // The next poll says whether the server is there; the log can wait.
    }
  }

  // --- live ------------------------------------------------------------------------------

  const live = document.querySelector("[data-live]");

  async function refresh() {
    try {
      await Promise.all([loadStudents(), api(urls.roomUrl).then(showRoom), loadHandouts()]);
      if (view.open) await loadDetail();
      live.dataset.live = "on";
      live.textContent = "live";
    } catch (error) {
      live.dataset.live = "off";
      live.textContent = "offline";
    }
  }

  async function poll() {
    await refresh();
    setTimeout(poll, POLL_MS);
  }

  // --- events ----------------------------------------------------------------------------

  const nameOf = (workspace) =>
    (view.students.find((s) => s.workspace === workspace) || { name: workspace }).name;

  app.addEventListener("click", (event) => {
    const target = event.target.closest("button, a, tr[data-record]");
    if (!target) return;
    const data = target.dataset;
    if (data.open !== undefined && target.tagName !== "TR") {
      event.preventDefault();
      openStudent(data.open, data.record);
    } else if (target.tagName === "TR") {
      showRecord(data.record);
    } else if (data.reset !== undefined) {
      const name = nameOf(data.reset);
      act(
        [`Reset ${name}'s workspace?`, `Their notes, accounts, switches, progress and records go back to the class's start. Nobody else's workspace changes.`, "Reset"],
        () => api(fill(urls.resetUrl, { __WS__: data.reset }), { method: "POST" }),
        () => `${name}'s workspace is back to the start.`,
      );
    } else if (data.resetAll !== undefined) {
      const count = view.students.length;
      act(
        ["Reset every workspace?", `All ${count} students' notes, accounts, switches, progress and records go back to the class's start.`, `Reset all ${count}`],
        () => api(urls.resetAllUrl, { method: "POST" }),
        (result) => `${result.workspaces} workspaces are back to the start.`,
      );
    } else if (data.switch !== undefined) {
      const on = data.to === "true";
      act(
        [`Switch ${data.switch} ${on ? "on" : "off"} for everyone?`, `Every student's workspace switches it ${on ? "on" : "off"} now, and new or reset workspaces start that way.`, on ? "Switch on" : "Switch off"],
        () => sendJSON(fill(urls.moduleUrl, { __NAME__: data.switch }), "PATCH", { enabled: on }),
        (result) => `${data.switch} is ${on ? "on" : "off"} for everyone (${result.changed} workspaces changed).`,
      );
    } else if (data.lock !== undefined) {
      const lock = data.to === "true";
      act(
        lock
          ? [`Lock ${data.lock}?`, `Every workspace goes to the class's state of ${data.lock}, and students can no longer switch it.`, "Lock"]
          : [`Unlock ${data.lock}?`, `Students may switch ${data.lock} in their own workspace again.`, "Unlock"],
        () => sendJSON(fill(urls.moduleUrl, { __NAME__: data.lock }), "PATCH", { locked: lock }),
        () => `${data.lock} is ${lock ? "locked" : "unlocked"}.`,
      );
    } else if (data.expire !== undefined) {
      act(
        ["Expire the join code?", "Nobody new can join until you make a new code. Students who joined keep their workspaces.", "Expire"],
        () => api(urls.expireUrl, { method: "POST" }),
        () => "The join code has expired.",
      );
    } else if (data.renew !== undefined) {
      act(
        ["Make a new join code?", "The current code stops working; give the room the new one.", "New code"],
        () => api(urls.renewUrl, { method: "POST" }),
        (result) => `New join code: ${result.code}`,
      );
    } else if (data.export !== undefined) {
      act(
        ["Download the progress as CSV?", `A file with the name and progress of each of the ${view.students.length} students. Keep it as you keep grades.`, "Download"],
        async () => {
          const link = el("a", { href: urls.csvUrl, download: "" });
          document.body.append(link);
          link.click();
          link.remove();
        },
        () => "Progress downloaded.",
      );
    } else if (data.makeToken !== undefined) {
      act(
        ["Make a notebook token?", "Whoever holds it can see and change the class from a notebook for a week, or until you log out. Keep it out of shared files.", "Make token"],
        async () => {
          const result = await api(urls.tokenUrl, { method: "POST" });
          const box = $("[data-token]");
          box.textContent =
            "from sandbox import Sandbox\n" +
            `sb = Sandbox.connect(${JSON.stringify(urls.baseUrl)}, token=${JSON.stringify(result.token)})\n` +
            "sb.class_progress()";
          box.hidden = false;
        },
        () => "Token made: copy it into your notebook.",
      );
    } else if (data.detailReset !== undefined && view.open) {
      const workspace = view.open;
      const name = nameOf(workspace);
      act(
        [`Reset ${name}'s workspace?`, `Their notes, accounts, switches, progress and records go back to the class's start. Nobody else's workspace changes.`, "Reset"],
        () => api(fill(urls.resetUrl, { __WS__: workspace }), { method: "POST" }),
        () => `${name}'s workspace is back to the start.`,
      );
    } else if (data.handoutToggle !== undefined) {
      const start = data.to === "true";
      const name = data.handoutToggle;
      act(
        start
          ? [`Give class:${name} to new students?`, "Every student who joins from now starts from it (one hand-out at a time does).", "Give it"]
          : [`Stop giving class:${name} to new students?`, "Students who join from now start from the class's usual start.", "Stop"],
        () => sendJSON(fill(urls.handoutUrl, { __NAME__: name }), "PATCH", { start }),
        () => (start ? `New students start from class:${name}.` : `New students no longer get class:${name}.`),
      );
    } else if (data.handoutDelete !== undefined) {
      const name = data.handoutDelete;
      act(
        [`Delete class:${name}?`, "Students can no longer restore it. What they restored of it stays theirs.", "Delete"],
        () => api(fill(urls.handoutUrl, { __NAME__: name }), { method: "DELETE" }),
        () => `class:${name} deleted.`,
      );
    } else if (data.detailClose !== undefined) {
      view.open = null;
      detail.hidden = true;
      $("[data-detail-record]").hidden = true;
    } else if (data.sortKey !== undefined) {
      const key = data.sortKey;
      view.sort = view.sort === key ? `-${key}` : key;
      $("[data-sort]").value = view.sort;
      showStudents();
    }
  });

  app.addEventListener("keydown", (event) => {
    const row = event.target.closest("tr[data-record]");
    if (row && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      showRecord(row.dataset.record);
    }
  });

  $("[data-filter-text]").addEventListener("input", showStudents);
  $("[data-filter-kind]").addEventListener("change", showStudents);
  $("[data-sort]").addEventListener("change", (event) => {
    view.sort = event.target.value;
    showStudents();
  });

  poll();
  loadActions();
  setInterval(loadActions, 10_000);
})();
