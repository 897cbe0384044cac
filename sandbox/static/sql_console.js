// The SQL console page: send the statement to POST /sandbox/sql and show the answer.
// Everything inserted into the page goes through textContent, so data cannot become HTML.
(function () {
  const form = document.getElementById("sql-form");
  const message = document.getElementById("sql-message");
  const result = document.getElementById("sql-result");
  const plan = document.getElementById("sql-plan");

  function cell(tag, text) {
    const el = document.createElement(tag);
    el.textContent = text === null ? "NULL" : String(text);
    return el;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    result.replaceChildren();
    plan.textContent = "";
    const response = await fetch(form.dataset.endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        sql: document.getElementById("sql").value,
        explain: document.getElementById("explain").checked,
      }),
    });
    const data = await response.json();
    if (!response.ok) {
      message.textContent = `${data.status} ${data.title}: ${data.detail}`;
      message.className = "error";
      return;
    }
    message.className = "";
    message.textContent = `${data.rows.length} row(s) in ${data.duration_ms} ms` +
      (data.note ? ` · ${data.note}` : "");
    const table = document.createElement("table");
    const head = document.createElement("tr");
    data.columns.forEach((c) => head.appendChild(cell("th", c)));
    table.appendChild(head);
    data.rows.forEach((row) => {
      const tr = document.createElement("tr");
      row.forEach((v) => tr.appendChild(cell("td", v)));
      table.appendChild(tr);
    });
    result.appendChild(table);
    if (data.plan) plan.textContent = "Query plan:\n" + data.plan.map((p) => p.detail).join("\n");
  });
})();
