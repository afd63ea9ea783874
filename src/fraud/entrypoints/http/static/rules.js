// The rules pages: write a rule, validate it, try it on one transaction, backtest it (a table
// and a chart), add it, change it, and switch it between active, shadow and disabled.
(function () {
  const form = document.getElementById("rule-form");
  if (!form) return; // a viewer's page: nothing to edit
  const stored = form.dataset.ruleName; // "" on the page that adds one
  const state = document.getElementById("expression-state");
  const error = document.getElementById("rule-error");
  const trial = document.getElementById("trial");
  let chart = null;

  const field = (name) => form.elements.namedItem(name);
  const value = (name) => (field(name) ? field(name).value.trim() : "");

  function draft() {
    const rule = { expression: value("expression"), action: value("action") };
    if (value("reason")) rule.reason = value("reason");
    if (!stored && value("name")) rule.name = value("name");
    return rule;
  }

  // The API's message, shown once under the expression; the place, where the message does
  // not already name it.
  function fail(failure) {
    let text = failure.message;
    const place = failure.position ? "line " + failure.position.line + ", column " + failure.position.column : "";
    if (place && !text.includes(place)) text += " (" + place + ")";
    error.textContent = text;
    error.hidden = false;
  }

  // A name from the reference, inserted where the cursor is in the expression.
  const expression = field("expression");
  for (const button of document.querySelectorAll("#rule-reference [data-insert]")) {
    button.addEventListener("click", () => {
      const name = button.dataset.insert;
      const at = expression.selectionStart ?? expression.value.length;
      expression.setRangeText(name, at, expression.selectionEnd ?? at, "end");
      expression.focus();
    });
  }

  async function run(action) {
    error.hidden = true;
    try {
      await action();
    } catch (failure) {
      fail(failure);
    }
  }

  async function check() {
    state.textContent = "checking…";
    try {
      await window.fraud.send("POST", "/api/rules/check", { expression: value("expression") });
      state.textContent = "valid: it compiles and may be used";
      state.className = "valid";
    } catch (failure) {
      state.textContent = "";
      state.className = "muted";
      throw failure;
    }
  }

  async function tryOn() {
    const answer = await window.fraud.send("POST", "/api/rules/try", {
      ...draft(),
      transaction_id: value("transaction_id"),
    });
    trial.textContent = answer.transaction_id + ": " + (answer.hit ? "hits" : "does not hit") +
      "; decided " + answer.decided + ", would be " + answer.would;
    trial.hidden = false;
  }

  function percent(share) {
    return share === null ? "n/a" : (share * 100).toFixed(1) + "%";
  }

  function showBacktest(result) {
    const section = document.getElementById("backtest");
    section.hidden = false;
    document.getElementById("backtest-summary").textContent =
      result.transactions + " verdicts · " + result.hits + " hits · " + result.changed +
      " decisions changed · " + result.reviews_added + " reviews added · " + result.declines_added +
      " declines added · precision " + percent(result.precision) + " · recall " + percent(result.recall) +
      " (" + result.labelled_hits + " labelled hits)";
    // The chart draws every day of the period; the table lists the days that had verdicts.
    const rows = result.days.filter((day) => day.transactions > 0).map((day) => {
      const row = document.createElement("tr");
      [day.day, day.transactions, day.hits, day.changed, day.reviews_added, day.declines_added].forEach((cell, i) => {
        const td = document.createElement("td");
        td.textContent = cell;
        td.className = i === 0 ? "time" : "num";
        row.appendChild(td);
      });
      return row;
    });
    if (!rows.length) {
      const row = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 6;
      td.className = "muted";
      td.textContent = "no verdicts in this period";
      row.appendChild(td);
      rows.push(row);
    }
    document.querySelector("#backtest-days tbody").replaceChildren(...rows);
    const data = {
      labels: result.days.map((day) => day.day),
      datasets: [
        { label: "hits", data: result.days.map((day) => day.hits), backgroundColor: "#4e79a7" },
        { label: "decisions changed", data: result.days.map((day) => day.changed), backgroundColor: "#e15759" },
        { label: "reviews added", data: result.days.map((day) => day.reviews_added), backgroundColor: "#f28e2b" },
      ],
    };
    if (typeof window.Chart !== "function") {
      document.getElementById("backtest-chart-note").textContent = "the chart library did not load; the table lists the days that had verdicts";
    } else if (chart) {
      chart.data = data;
      chart.update();
    } else {
      chart = new Chart(document.getElementById("chart-backtest"), {
        type: "bar",
        data: data,
        options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
      });
    }
  }

  async function backtest() {
    const days = parseInt(value("days") || "30", 10);
    showBacktest(await window.fraud.send("POST", "/api/rules/backtest", { ...draft(), days: days }));
  }

  async function add(mode) {
    const rule = { ...draft(), name: value("name"), reason: value("reason"), mode: mode, on_error: value("on_error") };
    const change = await window.fraud.send("POST", "/api/rules", rule);
    window.location.assign("/dashboard/rules/" + encodeURIComponent(change.rule.name));
  }

  async function save(changes) {
    await window.fraud.send("PATCH", "/api/rules/" + encodeURIComponent(stored), changes);
    window.location.reload();
  }

  const actions = {
    check: check,
    try: tryOn,
    backtest: backtest,
    save: () => save({ expression: value("expression"), action: value("action"), reason: value("reason"), on_error: value("on_error") }),
  };
  for (const button of form.querySelectorAll("button[data-do]")) {
    button.addEventListener("click", () => {
      const what = button.dataset.do;
      run(what === "add" ? () => add(button.dataset.addMode) : actions[what]);
    });
  }
  for (const button of form.querySelectorAll("button[data-mode]")) {
    button.addEventListener("click", () => run(() => save({ mode: button.dataset.mode })));
  }
})();
