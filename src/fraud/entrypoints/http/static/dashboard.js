// Refreshes the counters and tables from /api/dashboard every two seconds.
(function () {
  const REFRESH_MS = 2000;

  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function row(item) {
    const tr = document.createElement("tr");
    const state = item.decision || item.status;
    tr.className = state;
    tr.appendChild(cell(item.received_at));
    const link = document.createElement("a");
    link.href = "/transaction/" + encodeURIComponent(item.transaction_id);
    link.textContent = item.transaction_id;
    const idCell = document.createElement("td");
    idCell.appendChild(link);
    tr.appendChild(idCell);
    tr.appendChild(cell(item.transaction.user_id));
    tr.appendChild(cell(item.transaction.amount.toFixed(2) + " " + item.transaction.currency, "num"));
    tr.appendChild(cell(item.transaction.merchant));
    tr.appendChild(cell(item.fraud_score === undefined ? "" : item.fraud_score.toFixed(3), "num"));
    const badge = document.createElement("span");
    badge.className = "badge " + state;
    badge.textContent = state;
    const badgeCell = document.createElement("td");
    badgeCell.appendChild(badge);
    tr.appendChild(badgeCell);
    tr.appendChild(cell((item.reasons || [item.error]).filter(Boolean).join("; ")));
    return tr;
  }

  function fill(tableId, items) {
    const body = document.querySelector("#" + tableId + " tbody");
    body.replaceChildren(...items.map(row));
  }

  async function refresh() {
    try {
      const response = await fetch("/api/dashboard");
      if (!response.ok) throw new Error(response.statusText);
      const stats = await response.json();
      document.querySelector('[data-count="total"]').textContent = stats.total;
      for (const [key, value] of Object.entries(stats.counts)) {
        const el = document.querySelector('[data-count="' + key + '"]');
        if (el) el.textContent = value;
      }
      fill("flagged", stats.flagged);
      fill("recent", stats.recent);
      document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
    } catch (error) {
      document.getElementById("updated").textContent = "connection lost, retrying";
    }
  }

  setInterval(refresh, REFRESH_MS);
})();
