// The live dashboard: counters, charts and tables polled from the JSON API every two seconds.
(function () {
  const FAST_MS = 2000; // counters, tables, charts
  const HEALTH_MS = 5000; // consumer lag asks the broker, so a little less often
  const MODEL_MS = 30000;
  const COLORS = { approve: "#2e7d32", review: "#ef8f00", decline: "#c62828", line: "#1c5d99" };

  // ---- formatting -------------------------------------------------------------------------
  const percent = (share) => (share === null || share === undefined ? "–" : (100 * share).toFixed(2) + "%");
  const millis = (ms) => (ms === null || ms === undefined ? "–" : ms < 10 ? ms.toFixed(2) + " ms" : ms.toFixed(0) + " ms");
  const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false });

  function setText(selector, text) {
    const element = document.querySelector(selector);
    if (element) element.textContent = text;
  }

  // ---- tables -----------------------------------------------------------------------------
  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "" : text;
    if (className) td.className = className;
    return td;
  }

  function labelCell(item, withActions) {
    const td = document.createElement("td");
    td.className = "label-cell";
    const state = document.createElement("span");
    state.className = "label-state" + (item.label ? (item.label.is_fraud ? " confirmed" : " cleared") : "");
    state.textContent = window.fraud.labelText(item.label);
    td.appendChild(state);
    if (!withActions || document.body.dataset.mayLabel !== "true") return td;
    for (const [text, isFraud, className] of [["confirm", true, "confirm"], ["clear", false, "clear"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = className;
      button.textContent = text;
      button.title = isFraud ? "Confirm this is fraud" : "Clear: this is not fraud";
      button.addEventListener("click", async () => {
        try {
          const record = await window.fraud.label(item.transaction_id, isFraud);
          state.textContent = window.fraud.labelText(record.label);
          state.className = "label-state " + (isFraud ? "confirmed" : "cleared");
          refresh();
        } catch (failure) {
          state.textContent = "not saved: " + failure.message;
        }
      });
      td.appendChild(button);
    }
    return td;
  }

  function row(item, withActions) {
    const tr = document.createElement("tr");
    const state = item.decision || item.status;
    tr.className = state;
    tr.dataset.transactionId = item.transaction_id;
    tr.appendChild(cell(clock(item.received_at)));
    const link = document.createElement("a");
    link.href = "/dashboard/transactions/" + encodeURIComponent(item.transaction_id);
    link.className = "transaction-link";
    link.textContent = item.transaction_id;
    const idCell = document.createElement("td");
    idCell.appendChild(link);
    tr.appendChild(idCell);
    tr.appendChild(cell(item.transaction.user_id));
    tr.appendChild(cell(item.transaction.amount.toFixed(2) + " " + item.transaction.currency, "num"));
    tr.appendChild(cell(item.transaction.merchant));
    tr.appendChild(cell(item.fraud_score === undefined ? "" : item.fraud_score.toFixed(4), "num"));
    const badge = document.createElement("span");
    badge.className = "badge " + state;
    badge.textContent = state;
    const badgeCell = document.createElement("td");
    badgeCell.appendChild(badge);
    tr.appendChild(badgeCell);
    tr.appendChild(cell((item.reasons || [item.error]).filter(Boolean).join("; "), "reasons"));
    tr.appendChild(labelCell(item, withActions));
    return tr;
  }

  function fill(tableId, items, withActions) {
    document.querySelector("#" + tableId + " tbody").replaceChildren(...items.map((item) => row(item, withActions)));
  }

  function showStats(stats) {
    setText('[data-count="total"]', stats.total);
    for (const [key, value] of Object.entries(stats.counts)) setText('[data-count="' + key + '"]', value);
    fill("flagged", stats.flagged, true);
    fill("recent", stats.recent, false);
    let confirmed = 0, cleared = 0, unlabelled = 0;
    const parts = [];
    for (const [decision, figures] of Object.entries(stats.label_precision || {})) {
      confirmed += figures.confirmed;
      cleared += figures.cleared;
      unlabelled += figures.unlabelled;
      parts.push(decision + " " + figures.confirmed + "/" + (figures.confirmed + figures.cleared));
    }
    setText('[data-live="precision"]', confirmed + cleared ? percent(confirmed / (confirmed + cleared)) : "–");
    setText('[data-live="precision-detail"]', parts.join(" · ") + " · " + unlabelled + " unlabelled");
  }

  // ---- charts -----------------------------------------------------------------------------
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.font.size = 11;

  function chart(id, type, datasets, options) {
    return new Chart(document.getElementById(id), {
      type,
      data: { labels: [], datasets },
      options: Object.assign({ plugins: { legend: { position: "bottom" } }, interaction: { mode: "index", intersect: false } }, options),
    });
  }
  const line = (label, color) => ({ label, data: [], borderColor: color, backgroundColor: color, pointRadius: 1.5, borderWidth: 2, spanGaps: false });
  const bars = (label, color) => ({ label, data: [], backgroundColor: color, stack: "decisions" });
  const timeAxis = { ticks: { maxTicksLimit: 8, maxRotation: 0 } };

  const charts = {
    throughput: chart("chart-throughput", "line", [line("verdicts/s", COLORS.line)], {
      plugins: { legend: { display: false } }, scales: { x: timeAxis, y: { beginAtZero: true } },
    }),
    decisions: chart("chart-decisions", "bar", [bars("approve", COLORS.approve), bars("review", COLORS.review), bars("decline", COLORS.decline)], {
      scales: { x: Object.assign({ stacked: true }, timeAxis), y: { stacked: true, beginAtZero: true } },
    }),
    fraudRate: chart("chart-fraud-rate", "line", [line("flagged %", COLORS.review), line("declined %", COLORS.decline)], {
      scales: { x: timeAxis, y: { beginAtZero: true, ticks: { callback: (v) => v + "%" } } },
    }),
    latency: chart("chart-latency", "line", [line("p50", "#4c9be8"), line("p95", "#1c5d99"), line("p99", "#0b2a4a")], {
      scales: { x: timeAxis, y: { type: "logarithmic", title: { display: true, text: "ms" } } },
    }),
    scores: chart("chart-scores", "bar", [{ label: "transactions", data: [], backgroundColor: [] }], {
      plugins: { legend: { display: false } },
      scales: { y: { type: "logarithmic", title: { display: true, text: "transactions" } }, x: { title: { display: true, text: "fraud score (bin upper bound)" } } },
    }),
    labels: chart("chart-labels", "bar", [bars("fraud", COLORS.decline), bars("legitimate", COLORS.approve)], {
      scales: { x: { stacked: true, ticks: { maxTicksLimit: 10, maxRotation: 0 } }, y: { stacked: true, beginAtZero: true } },
    }),
    labelDelay: chart("chart-label-delay", "bar", [{ label: "labels", data: [], backgroundColor: COLORS.line }], {
      plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } },
    }),
    drift: chart("chart-drift", "bar", [
      { type: "line", label: "threshold", data: [], borderColor: COLORS.decline, borderDash: [4, 4], pointRadius: 0, borderWidth: 1.5 },
      { label: "PSI", data: [], backgroundColor: [] },
    ], { scales: { y: { beginAtZero: true, title: { display: true, text: "PSI" } }, x: { ticks: { autoSkip: false, maxRotation: 60 } } } }),
  };
  const DRIFT_SHOWN = 12; // the most drifted features, and the score
  let thresholds = null;

  function scoreColor(upper) {
    if (!thresholds) return COLORS.line;
    if (upper > thresholds.decline) return COLORS.decline;
    if (upper > thresholds.review) return COLORS.review;
    return COLORS.approve;
  }

  function showActivity(activity) {
    const labels = activity.points.map((p) => clock(p.start));
    const series = (pick) => activity.points.map(pick);
    const pct = (share) => (share === null ? null : +(100 * share).toFixed(3));
    charts.throughput.data.labels = labels;
    charts.throughput.data.datasets[0].data = series((p) => p.throughput);
    charts.decisions.data.labels = labels;
    ["approve", "review", "decline"].forEach((d, i) => (charts.decisions.data.datasets[i].data = series((p) => p.decisions[d])));
    charts.fraudRate.data.labels = labels;
    charts.fraudRate.data.datasets[0].data = series((p) => pct(p.flagged_rate));
    charts.fraudRate.data.datasets[1].data = series((p) => pct(p.decline_rate));
    charts.latency.data.labels = labels;
    ["p50", "p95", "p99"].forEach((q, i) => (charts.latency.data.datasets[i].data = series((p) => p.latency_ms[q])));
    const bounds = activity.scores.upper_bounds;
    charts.scores.data.labels = bounds.map((b) => "≤" + (b < 0.01 ? b.toExponential(0) : b.toFixed(2)));
    charts.scores.data.datasets[0].data = activity.scores.counts.map((count) => count || null);
    charts.scores.data.datasets[0].backgroundColor = bounds.map(scoreColor);
    Object.values(charts).forEach((c) => c.update("none"));
    const totals = activity.totals;
    setText('[data-live="throughput"]', totals.throughput.toFixed(1));
    setText('[data-live="flagged-rate"]', percent(totals.flagged_rate));
    setText('[data-live="p95"]', millis(totals.latency_ms.p95));
  }

  function hours(h) {
    return h < 24 ? h + " h" : h / 24 + " d";
  }

  function showLabels(loop) {
    charts.labels.data.labels = loop.days.map((d) => d.day.slice(5));
    charts.labels.data.datasets[0].data = loop.days.map((d) => d.fraud);
    charts.labels.data.datasets[1].data = loop.days.map((d) => d.legitimate);
    const bounds = loop.delay_bounds_hours;
    charts.labelDelay.data.labels = [...bounds.map((b) => "< " + hours(b)), "≥ " + hours(bounds[bounds.length - 1])];
    charts.labelDelay.data.datasets[0].data = loop.delays;
    charts.labels.update("none");
    charts.labelDelay.update("none");
    document.querySelector("#risky-merchants tbody").replaceChildren(
      ...loop.merchants.map((m) => {
        const tr = document.createElement("tr");
        tr.appendChild(cell(m.merchant));
        tr.appendChild(cell(m.frauds, "num"));
        tr.appendChild(cell(m.transactions, "num"));
        tr.appendChild(cell(percent(m.share), "num"));
        return tr;
      })
    );
  }

  // ---- panels -----------------------------------------------------------------------------
  function showModel(payload) {
    const panel = document.getElementById("model-panel");
    const model = payload.model;
    if (!model) {
      panel.replaceChildren(...[["version", "no model trained yet"]].flatMap(definition));
      return;
    }
    thresholds = model.thresholds;
    const m = model.metrics || {};
    const fixed = (v, digits) => (typeof v === "number" ? v.toFixed(digits) : "–");
    panel.replaceChildren(
      ...[
        ["version", model.version],
        ["trained", model.trained_at.replace("T", " ").slice(0, 19) + " UTC on " + model.training_rows + " rows"],
        ["validation AP (PR-AUC)", fixed(m.average_precision, 4)],
        ["validation ROC-AUC", fixed(m.roc_auc, 4)],
        ["recall at 1% FPR", fixed(m.recall_at_1pct_fpr, 3)],
        ["review threshold", fixed(model.thresholds.review, 5) + (m.review_threshold_fpr ? " (" + percent(m.review_threshold_fpr) + " FPR)" : "")],
        ["decline threshold", fixed(model.thresholds.decline, 5) + (m.decline_threshold_fpr ? " (" + percent(m.decline_threshold_fpr) + " FPR)" : "")],
      ].flatMap(definition)
    );
  }

  function showModels(registry) {
    document.querySelector("#models-panel tbody").replaceChildren(
      ...registry.models.map((entry) => {
        const tr = document.createElement("tr");
        tr.className = entry.role || "";
        tr.appendChild(cell(entry.model.version));
        tr.appendChild(cell(entry.role || ""));
        tr.appendChild(cell(entry.registered_at.replace("T", " ").slice(0, 16) + " by " + entry.registered_by));
        const ap = (entry.model.metrics || {}).average_precision;
        tr.appendChild(cell(typeof ap === "number" ? ap.toFixed(4) : "–", "num"));
        const budget = entry.review_budget;
        const precision = budget && budget.expected_precision !== null ? ", expected precision " + budget.expected_precision.toFixed(2) : "";
        tr.appendChild(
          cell(
            "≥ " + entry.thresholds.review.toFixed(4) +
              (budget ? " (" + budget.per_day + " reviews/day budget: ~" + budget.expected_reviews_per_day.toFixed(0) + "/day" + precision + ")" : " (validation FPR)")
          )
        );
        return tr;
      })
    );
  }

  function showChallenge(payload) {
    const challenge = payload.challenge;
    const body = document.querySelector("#challenge-panel tbody");
    if (!challenge) {
      body.replaceChildren();
      setText("#challenge-detail", "no challenger: `fraud models challenge VERSION` starts one");
      return;
    }
    const figures = challenge.comparison;
    const fixed = (v) => (v === null || v === undefined ? "–" : v.toFixed(3));
    body.replaceChildren(
      ...[["champion", challenge.champion, figures.champion], ["challenger", challenge.challenger, figures.challenger]].map(([role, version, f]) => {
        const tr = document.createElement("tr");
        tr.appendChild(cell(role + " " + version));
        tr.appendChild(cell(fixed(f.precision), "num"));
        tr.appendChild(cell(fixed(f.recall), "num"));
        tr.appendChild(cell(fixed(f.average_precision), "num"));
        return tr;
      })
    );
    setText(
      "#challenge-detail",
      figures.scored + " scored by both, " + figures.labelled + " labelled (" + figures.frauds + " fraud); budget " +
        figures.budget + " reviews (what the champion flagged); the challenger would have changed " + figures.decisions_changed + " decisions"
    );
  }

  function showDrift(report) {
    const shown = report.drifts.slice(0, DRIFT_SHOWN);
    charts.drift.data.labels = shown.map((d) => d.name);
    charts.drift.data.datasets[0].data = shown.map(() => report.threshold);
    charts.drift.data.datasets[1].data = shown.map((d) => d.psi);
    charts.drift.data.datasets[1].backgroundColor = shown.map((d) => (d.drifted ? COLORS.decline : COLORS.line));
    charts.drift.update("none");
    const drifted = report.drifts.filter((d) => d.drifted).map((d) => d.name);
    const state = document.getElementById("drift-state");
    state.textContent = report.model_version === null ? "no reference" : drifted.length ? "drifted: " + drifted.join(", ") : "stable";
    state.className = "badge " + (drifted.length ? "decline" : "approve");
  }

  function definition([term, value]) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    return [dt, dd];
  }

  function showPipeline(health) {
    const rows = [];
    for (const stage of health.stages) {
      for (const [topic, lag] of Object.entries(stage.lag)) {
        const tr = document.createElement("tr");
        tr.appendChild(cell(stage.stage));
        tr.appendChild(cell(topic));
        tr.appendChild(cell(lag === null ? "unknown" : lag, "num" + (lag > 1000 ? " warn" : "")));
        rows.push(tr);
      }
    }
    document.querySelector("#pipeline-panel tbody").replaceChildren(...rows);
    setText("#dead-letters", health.dead_letters === null ? "unknown" : health.dead_letters);
    const state = document.getElementById("pipeline-state");
    state.textContent = health.running === null ? "stages run elsewhere" : health.running ? "running" : "stopped";
    state.className = "badge " + (health.running === false ? "decline" : "approve");
  }

  // ---- polling ----------------------------------------------------------------------------
  async function poll(url, show) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(url + ": " + response.status);
    show(await response.json());
  }

  async function refresh() {
    try {
      await Promise.all([poll("/api/dashboard", showStats), poll("/api/activity", showActivity)]);
      setText("#updated", "updated " + new Date().toLocaleTimeString([], { hour12: false }));
    } catch (error) {
      setText("#updated", "connection lost, retrying");
    }
  }

  const quietly = (task) => () => task().catch(() => setText("#updated", "connection lost, retrying"));
  const loadModel = quietly(() => poll("/api/model", showModel));
  const loadPipeline = quietly(() => poll("/api/pipeline", showPipeline));
  const loadLabels = quietly(() => poll("/api/labels", showLabels));
  const loadLife = quietly(() =>
    Promise.all([poll("/api/models", showModels), poll("/api/models/challenge", showChallenge), poll("/api/drift", showDrift)])
  );

  showStats(JSON.parse(document.getElementById("initial-stats").textContent));
  loadModel().then(refresh);
  loadPipeline();
  loadLabels();
  loadLife();
  setInterval(refresh, FAST_MS);
  setInterval(loadPipeline, HEALTH_MS);
  setInterval(loadLabels, HEALTH_MS);
  setInterval(loadModel, MODEL_MS);
  setInterval(loadLife, HEALTH_MS);
})();
