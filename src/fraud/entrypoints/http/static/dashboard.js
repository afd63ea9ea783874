// The live dashboard: counters, charts and tables polled from the JSON API every two seconds.
// The counters, tables and panels need nothing but this script: when the chart library does
// not load, each chart says so and everything else is drawn as usual.
(function () {
  const FAST_MS = 2000; // counters, tables, charts
  const HEALTH_MS = 5000; // consumer lag asks the broker, so a little less often
  const MODEL_MS = 30000;
  const COLORS = { approve: "#2e7d32", review: "#ef8f00", decline: "#c62828", line: "#1c5d99", muted: "#b8c2cc" };
  const RATE_WINDOW = 15; // buckets of 2 s: a rate over the last 30 s...
  const RATE_MIN_VERDICTS = 20; // ...once it holds this many verdicts
  const fraud = window.fraud;

  // ---- formatting -------------------------------------------------------------------------
  const percent = (share) => (share === null || share === undefined ? "–" : (100 * share).toFixed(2) + "%");
  const millis = (ms) => (ms === null || ms === undefined ? "–" : ms < 10 ? ms.toFixed(2) + " ms" : ms.toFixed(0) + " ms");
  const grouped = (n) => Number(n).toLocaleString("en-US");

  function setText(selector, text) {
    const element = document.querySelector(selector);
    if (element) element.textContent = text;
  }

  // ---- tables -----------------------------------------------------------------------------
  function cell(content, className) {
    const td = document.createElement("td");
    if (content instanceof Node) td.appendChild(content);
    else td.textContent = content === undefined || content === null ? "" : content;
    if (className) td.className = className;
    return td;
  }

  function emptyRow(columns, text) {
    const tr = document.createElement("tr");
    tr.className = "empty-row";
    const td = cell(text, "muted");
    td.colSpan = columns;
    tr.appendChild(td);
    return tr;
  }

  function labelCell(item, withActions) {
    const td = document.createElement("td");
    td.className = "label-cell";
    const state = document.createElement("span");
    state.className = "label-state" + (item.label ? (item.label.is_fraud ? " confirmed" : " cleared") : "");
    state.textContent = fraud.labelText(item.label);
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
          const record = await fraud.label(item.transaction_id, isFraud);
          state.textContent = fraud.labelText(record.label);
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

  function idLink(href, id, className) {
    const link = document.createElement("a");
    link.href = href;
    link.className = className;
    link.textContent = fraud.shortId(id);
    link.title = id;
    return link;
  }

  function row(item, withActions) {
    const tr = document.createElement("tr");
    const state = item.decision || item.status;
    tr.className = state;
    tr.dataset.transactionId = item.transaction_id;
    tr.appendChild(cell(fraud.timeElement(item.received_at, true), "time"));
    tr.appendChild(cell(idLink("/dashboard/transactions/" + encodeURIComponent(item.transaction_id), item.transaction_id, "transaction-link"), "id"));
    const user = item.transaction.user_id;
    tr.appendChild(cell(idLink("/dashboard/cards/" + encodeURIComponent(user), user, "card-link"), "id"));
    tr.appendChild(cell(fraud.money(item.transaction.amount, item.transaction.currency), "num"));
    tr.appendChild(cell(item.transaction.merchant, "text merchant"));
    tr.appendChild(cell(item.fraud_score === undefined ? "" : item.fraud_score.toFixed(4), "num"));
    const badge = document.createElement("span");
    badge.className = "badge " + state;
    badge.textContent = state;
    tr.appendChild(cell(badge));
    tr.appendChild(cell((item.reasons || [item.error]).filter(Boolean).join("; "), "reasons"));
    tr.appendChild(labelCell(item, withActions));
    return tr;
  }

  // A polled table keeps each row whose item reads the same as at the last poll, and is touched
  // only when something in it changed: a row replaced between the press and the release of a
  // click loses the click, a focused button its focus and a selection its text.
  function showRows(body, items, build, columns, empty) {
    const shown = new Map();
    for (const tr of body.children) if (tr.dataset.signature) shown.set(tr.dataset.signature, tr);
    const rows = items.map((item) => {
      const signature = JSON.stringify(item);
      const tr = shown.get(signature) || build(item);
      shown.delete(signature); // two items that read the same get a row each
      tr.dataset.signature = signature;
      return tr;
    });
    if (!rows.length) {
      const placeholder = shown.get("empty") || emptyRow(columns, empty);
      placeholder.dataset.signature = "empty";
      rows.push(placeholder);
    }
    const current = Array.from(body.children);
    const unchanged = rows.length === current.length && rows.every((tr, i) => tr === current[i]);
    if (!unchanged) body.replaceChildren(...rows);
  }

  function fill(tableId, items, withActions, empty) {
    showRows(document.querySelector("#" + tableId + " tbody"), items, (item) => row(item, withActions), 9, empty);
  }

  function showStats(stats) {
    setText('[data-count="total"]', grouped(stats.total));
    for (const [key, value] of Object.entries(stats.counts)) setText('[data-count="' + key + '"]', grouped(value));
    fill("flagged", stats.flagged, true, "nothing flagged yet");
    fill("recent", stats.recent, false, "no transactions yet: POST /transaction with a submitter key");
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

  // ---- charts (each a no-op when Chart.js did not load) -------------------------------------
  const charting = typeof window.Chart === "function";

  // A chart's placeholder: shown over its empty axes when it has nothing to draw.
  function emptyState(id, isEmpty, text) {
    const note = document.querySelector('[data-empty-for="' + id + '"]');
    if (!note) return;
    if (text) note.textContent = text;
    note.hidden = !isEmpty;
  }

  if (!charting) {
    for (const note of document.querySelectorAll("[data-empty-for]")) {
      note.textContent = "charts unavailable: the chart library did not load";
      note.hidden = false;
    }
  } else {
    Chart.defaults.animation = false;
    Chart.defaults.maintainAspectRatio = false;
    Chart.defaults.font.size = 11;
  }

  function chart(id, type, datasets, options) {
    if (!charting) return null;
    return new Chart(document.getElementById(id), {
      type,
      data: { labels: [], datasets },
      options: Object.assign({ plugins: { legend: { position: "bottom" } }, interaction: { mode: "index", intersect: false } }, options),
    });
  }
  function draw(target, update) {
    if (!target) return;
    update(target);
    target.update("none");
  }
  const line = (label, color) => ({ label, data: [], borderColor: color, backgroundColor: color, pointRadius: 1.5, borderWidth: 2, spanGaps: false });
  const bars = (label, color) => ({ label, data: [], backgroundColor: color, stack: "decisions" });
  const timeAxis = { ticks: { maxTicksLimit: 5, maxRotation: 0, autoSkipPadding: 16 } };
  // A logarithmic axis labelled at 1, 10, 100...: Chart.js's own ticks crowd near the top.
  function powersOfTen(value) {
    const exponent = Math.log10(value);
    return Math.abs(exponent - Math.round(exponent)) < 1e-9 ? grouped(value) : "";
  }

  const charts = {
    throughput: chart("chart-throughput", "line", [line("verdicts/s", COLORS.line)], {
      plugins: { legend: { display: false } }, scales: { x: timeAxis, y: { beginAtZero: true } },
    }),
    decisions: chart("chart-decisions", "bar", [bars("approve", COLORS.approve), bars("review", COLORS.review), bars("decline", COLORS.decline)], {
      scales: { x: Object.assign({ stacked: true }, timeAxis), y: { stacked: true, beginAtZero: true } },
    }),
    fraudRate: chart("chart-fraud-rate", "line", [line("flagged %", COLORS.review), line("declined %", COLORS.decline)], {
      scales: { x: timeAxis, y: { beginAtZero: true, suggestedMax: 5, ticks: { callback: (v) => v + "%" } } },
    }),
    latency: chart("chart-latency", "line", [line("p50", "#4c9be8"), line("p95", "#1c5d99"), line("p99", "#0b2a4a")], {
      scales: { x: timeAxis, y: { type: "logarithmic", title: { display: true, text: "ms" }, ticks: { callback: powersOfTen } } },
    }),
    scores: chart("chart-scores", "bar", [{ label: "transactions", data: [], backgroundColor: [] }], {
      plugins: { legend: { display: false } },
      scales: {
        y: { type: "logarithmic", title: { display: true, text: "transactions" }, ticks: { callback: powersOfTen } },
        x: { title: { display: true, text: "fraud score (bin upper bound)" }, ticks: { maxRotation: 0, autoSkipPadding: 8 } },
      },
    }),
    labels: chart("chart-labels", "bar", [bars("fraud", COLORS.decline), bars("legitimate", COLORS.approve)], {
      scales: { x: { stacked: true, ticks: { maxTicksLimit: 8, maxRotation: 0 } }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } },
    }),
    labelDelay: chart("chart-label-delay", "bar", [{ label: "labels", data: [], backgroundColor: COLORS.line }], {
      plugins: { legend: { display: false } }, scales: { x: { ticks: { maxRotation: 0 } }, y: { beginAtZero: true, ticks: { precision: 0 } } },
    }),
    drift: chart("chart-drift", "bar", [
      { type: "line", label: "threshold", data: [], borderColor: COLORS.decline, borderDash: [4, 4], pointRadius: 0, borderWidth: 1.5 },
      { label: "PSI", data: [], backgroundColor: [] },
    ], { scales: { y: { type: "logarithmic", min: 0.01, title: { display: true, text: "PSI (log scale)" } }, x: { ticks: { autoSkip: false, maxRotation: 60 } } } }),
  };
  const DRIFT_SHOWN = 12; // the most drifted features, and the score
  let thresholds = null;

  function scoreColor(upper) {
    if (!thresholds) return COLORS.line;
    if (upper > thresholds.decline) return COLORS.decline;
    if (upper > thresholds.review) return COLORS.review;
    return COLORS.approve;
  }

  // Each bucket's share flagged and declined over the RATE_WINDOW buckets ending with it,
  // null while they hold fewer than RATE_MIN_VERDICTS verdicts (a rate of 2 is noise).
  function rollingRates(points) {
    const flagged = [], declined = [];
    for (let i = 0; i < points.length; i++) {
      let total = 0, review = 0, decline = 0;
      for (let j = Math.max(0, i - RATE_WINDOW + 1); j <= i; j++) {
        const d = points[j].decisions;
        total += d.approve + d.review + d.decline;
        review += d.review;
        decline += d.decline;
      }
      const enough = total >= RATE_MIN_VERDICTS;
      flagged.push(enough ? +((100 * (review + decline)) / total).toFixed(2) : null);
      declined.push(enough ? +((100 * decline) / total).toFixed(2) : null);
    }
    return { flagged, declined };
  }

  function showActivity(activity) {
    const labels = activity.points.map((p) => fraud.recently(p.start));
    const series = (pick) => activity.points.map(pick);
    const verdicts = activity.points.reduce((sum, p) => sum + p.decisions.approve + p.decisions.review + p.decisions.decline, 0);
    draw(charts.throughput, (c) => {
      c.data.labels = labels;
      c.data.datasets[0].data = series((p) => p.throughput);
    });
    draw(charts.decisions, (c) => {
      c.data.labels = labels;
      ["approve", "review", "decline"].forEach((d, i) => (c.data.datasets[i].data = series((p) => p.decisions[d])));
    });
    const rates = rollingRates(activity.points);
    draw(charts.fraudRate, (c) => {
      c.data.labels = labels;
      c.data.datasets[0].data = rates.flagged;
      c.data.datasets[1].data = rates.declined;
    });
    draw(charts.latency, (c) => {
      c.data.labels = labels;
      ["p50", "p95", "p99"].forEach((q, i) => (c.data.datasets[i].data = series((p) => p.latency_ms[q])));
    });
    const bounds = activity.scores.upper_bounds;
    draw(charts.scores, (c) => {
      c.data.labels = bounds.map((b) => "≤" + (b < 0.01 ? b.toExponential(0) : b.toFixed(2)));
      c.data.datasets[0].data = activity.scores.counts.map((count) => count || null);
      c.data.datasets[0].backgroundColor = bounds.map(scoreColor);
    });
    if (charting) {
      for (const id of ["chart-throughput", "chart-decisions", "chart-latency", "chart-scores"]) emptyState(id, verdicts === 0);
      emptyState("chart-fraud-rate", rates.flagged.every((v) => v === null));
    }
    const totals = activity.totals;
    setText('[data-live="throughput"]', totals.throughput.toFixed(1));
    setText('[data-live="flagged-rate"]', percent(totals.flagged_rate));
    setText('[data-live="p95"]', millis(totals.latency_ms.p95));
  }

  function hours(h) {
    return h < 24 ? h + " h" : h / 24 + " d";
  }

  function showLabels(loop) {
    const given = loop.days.reduce((sum, d) => sum + d.fraud + d.legitimate, 0);
    draw(charts.labels, (c) => {
      c.data.labels = loop.days.map((d) => d.day.slice(5));
      c.data.datasets[0].data = loop.days.map((d) => d.fraud);
      c.data.datasets[1].data = loop.days.map((d) => d.legitimate);
    });
    const bounds = loop.delay_bounds_hours;
    draw(charts.labelDelay, (c) => {
      c.data.labels = [...bounds.map((b) => "< " + hours(b)), "≥ " + hours(bounds[bounds.length - 1])];
      c.data.datasets[0].data = loop.delays;
    });
    if (charting) {
      emptyState("chart-labels", given === 0);
      emptyState("chart-label-delay", given === 0);
    }
    const merchant = (m) => {
      const tr = document.createElement("tr");
      tr.appendChild(cell(m.merchant, "text"));
      tr.appendChild(cell(grouped(m.frauds), "num"));
      tr.appendChild(cell(grouped(m.transactions), "num"));
      tr.appendChild(cell(percent(m.share), "num"));
      return tr;
    };
    showRows(document.querySelector("#risky-merchants tbody"), loop.merchants, merchant, 4, "no confirmed fraud in the last 7 days");
  }

  // ---- panels -----------------------------------------------------------------------------
  function definition([term, value, className]) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    if (Array.isArray(value)) {
      // Terms kept whole ("USD 15,563"), the line broken only between them.
      value.forEach((part, index) => {
        if (index) dd.append(" + ");
        const term = document.createElement("span");
        term.className = "term";
        term.textContent = part;
        dd.append(term);
      });
    } else {
      dd.textContent = value;
    }
    if (className) dd.className = className;
    return [dt, dd];
  }

  // "0.5762 on 300 frauds": what a figure rests on, beside it.
  function restsOn(metrics) {
    return typeof metrics.frauds === "number" ? " on " + grouped(metrics.frauds) + " frauds" : "";
  }

  // What a team reviewing the top N scores a day finds, as the card counts it (older cards
  // have no such figures): the share of reviews that are fraud, and the frauds' money.
  function atReviewBudget(m) {
    if (typeof m.precision_at_budget !== "number") return [];
    const money = (amounts) => {
      const sums = Object.entries(amounts || {}).map(([currency, sum]) => currency + " " + grouped(Math.round(sum)));
      return sums.length ? sums : "0";
    };
    return [
      ["at " + grouped(m.review_budget_per_day) + " reviews/day", "precision " + m.precision_at_budget.toFixed(3) + ", recall " + m.recall_at_budget.toFixed(3), "num"],
      ["fraud money caught", money(m.fraud_money_caught), "amounts"],
      ["fraud money missed", money(m.fraud_money_missed), "amounts"],
    ];
  }

  function showModel(payload) {
    const panel = document.getElementById("model-panel");
    const model = payload.model;
    if (!model) {
      panel.replaceChildren(...definition(["version", "no model trained yet"]));
      return;
    }
    thresholds = model.thresholds;
    const m = model.metrics || {};
    const fixed = (v, digits) => (typeof v === "number" ? v.toFixed(digits) : "–");
    const judged = typeof m.rows === "number"
      ? (model.judged_on || "its validation data") + ": " + grouped(m.rows) + " transactions, " + grouped(m.frauds) + " frauds"
      : model.judged_on || "–";
    panel.replaceChildren(
      ...[
        ["version", model.version, "id"],
        ["trained", fraud.when(model.trained_at) + ", " + grouped(model.training_rows) + " transactions"],
        ["judged on", judged],
        ["average precision", fixed(m.average_precision, 4) + restsOn(m), "num"],
        ["ROC-AUC", fixed(m.roc_auc, 4), "num"],
        ["recall at 1% FPR", fixed(m.recall_at_1pct_fpr, 3) + restsOn(m), "num"],
        ...atReviewBudget(m),
        ["review at", fixed(model.thresholds.review, 4) + (m.review_threshold_fpr ? " (" + percent(m.review_threshold_fpr) + " FPR)" : ""), "num"],
        ["decline at", fixed(model.thresholds.decline, 4) + (m.decline_threshold_fpr ? " (" + percent(m.decline_threshold_fpr) + " FPR)" : ""), "num"],
      ].flatMap(definition)
    );
  }

  function showModels(registry) {
    const model = (entry) => {
      const tr = document.createElement("tr");
      tr.className = entry.role || "";
      const metrics = entry.model.metrics || {};
      const version = document.createElement("span");
      version.textContent = entry.model.version;
      version.title = entry.model.judged_on || "";
      tr.appendChild(cell(version, "id"));
      tr.appendChild(cell(entry.role || "", "id"));
      const registered = document.createElement("span");
      registered.append(fraud.timeElement(entry.registered_at, false), " by " + entry.registered_by);
      tr.appendChild(cell(registered, "text"));
      const ap = metrics.average_precision;
      tr.appendChild(cell(typeof ap === "number" ? ap.toFixed(4) : "–", "num"));
      tr.appendChild(cell(typeof metrics.frauds === "number" ? grouped(metrics.frauds) : "–", "num"));
      tr.appendChild(cell(entry.thresholds.review.toFixed(4), "num"));
      const budget = entry.review_budget;
      const precision = budget && budget.expected_precision !== null ? ", precision ~" + budget.expected_precision.toFixed(2) : "";
      tr.appendChild(
        cell(
          budget ? budget.per_day + " reviews/day budget (~" + budget.expected_reviews_per_day.toFixed(0) + "/day" + precision + ")" : "training (" + percent(metrics.review_threshold_fpr) + " FPR)",
          "text"
        )
      );
      return tr;
    };
    showRows(document.querySelector("#models-panel tbody"), registry.models, model, 7, "no model registered yet");
  }

  function showChallenge(payload) {
    const challenge = payload.challenge;
    const body = document.querySelector("#challenge-panel tbody");
    if (!challenge) {
      body.replaceChildren();
      setText("#challenge-detail", "no challenger: fraud models challenge VERSION starts one");
      return;
    }
    const figures = challenge.comparison;
    const fixed = (v) => (v === null || v === undefined ? "–" : v.toFixed(3));
    body.replaceChildren(
      ...[["champion", challenge.champion, figures.champion], ["challenger", challenge.challenger, figures.challenger]].map(([role, version, f]) => {
        const tr = document.createElement("tr");
        tr.appendChild(cell(role + " " + version, "text"));
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

  // A canary: the share of cards the challenger decides, and its latest step (who, why:
  // a roll-back the service made by itself says so).
  function showCanary(canary) {
    const last = canary.history.length ? canary.history[canary.history.length - 1] : null;
    const share = (s) => (s * 100).toLocaleString() + "%";
    setText(
      "#canary-detail",
      !canary.challenger
        ? "canary: no challenger"
        : "canary: " + canary.challenger + " decides " + share(canary.share) + " of cards" +
            (last && last.version === canary.challenger ? " (" + last.reason + ", by " + last.by + ", " + last.at + ")" : "") +
            "; fraud models canary --raise steps it through " + canary.steps.map(share).join(", ")
    );
  }

  // The badge says what the figures allow: no reference, too few values to judge, drifted
  // (naming what), or stable; a PSI on too few values is drawn grey, as not judged.
  function showDrift(report) {
    const shown = report.drifts.slice(0, DRIFT_SHOWN);
    const judged = (d) => d.observed >= report.minimum_observed;
    draw(charts.drift, (c) => {
      c.data.labels = shown.map((d) => d.name);
      c.data.datasets[0].data = shown.map(() => report.threshold);
      c.data.datasets[1].data = shown.map((d) => Math.max(d.psi, 0.01));
      c.data.datasets[1].backgroundColor = shown.map((d) => (!judged(d) ? COLORS.muted : d.drifted ? COLORS.decline : COLORS.line));
    });
    const observed = report.drifts.reduce((most, d) => Math.max(most, d.observed), 0);
    const drifted = report.drifts.filter((d) => d.drifted).map((d) => d.name);
    const state = document.getElementById("drift-state");
    let text, kind;
    if (report.model_version === null) {
      [text, kind] = ["no reference", "pending"];
    } else if (drifted.length) {
      [text, kind] = ["drifted: " + drifted.join(", "), "decline"];
    } else if (observed < report.minimum_observed) {
      [text, kind] = ["too few values to judge: " + grouped(observed) + " of " + grouped(report.minimum_observed), "pending"];
    } else {
      [text, kind] = ["stable", "approve"];
    }
    state.textContent = text;
    state.className = "badge " + kind;
    if (charting) emptyState("chart-drift", report.model_version === null || !shown.length);
  }

  function showPipeline(health) {
    const rows = [];
    for (const stage of health.stages) {
      for (const [topic, lag] of Object.entries(stage.lag)) {
        const tr = document.createElement("tr");
        tr.appendChild(cell(stage.stage, "text"));
        tr.appendChild(cell(topic, "text"));
        tr.appendChild(cell(lag === null ? "unknown" : grouped(lag), "num" + (lag > 1000 ? " warn" : "")));
        rows.push(tr);
      }
    }
    document.querySelector("#pipeline-panel tbody").replaceChildren(...rows);
    setText("#dead-letters", health.dead_letters === null ? "unknown" : grouped(health.dead_letters));
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
      setText("#updated", "updated " + fraud.recently(new Date().toISOString()));
    } catch (error) {
      setText("#updated", "connection lost, retrying");
    }
  }

  const quietly = (task) => () => task().catch(() => setText("#updated", "connection lost, retrying"));
  const loadModel = quietly(() => poll("/api/model", showModel));
  const loadPipeline = quietly(() => poll("/api/pipeline", showPipeline));
  const loadLabels = quietly(() => poll("/api/labels", showLabels));
  const loadLife = quietly(() =>
    Promise.all([poll("/api/models", showModels), poll("/api/models/challenge", showChallenge), poll("/api/models/canary", showCanary), poll("/api/drift", showDrift)])
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
