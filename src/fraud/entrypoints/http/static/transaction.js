// The transaction page: each reason's share drawn, and the label buttons recording the
// analyst's verdict and showing it without a reload.
(function () {
  const section = document.querySelector("[data-transaction-id]");
  const id = section.dataset.transactionId;
  const state = document.getElementById("label-state");
  const error = document.getElementById("label-error");
  const fraud = window.fraud;

  // The policy allows no inline style: each share bar gets its width here.
  for (const bar of section.querySelectorAll("[data-share]")) bar.style.width = bar.dataset.share + "%";

  // As the server words it (timeline.elapsed): ms for the pipeline, larger units after.
  function elapsed(seconds) {
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]]) {
      if (seconds >= size) return "+" + (seconds / size).toFixed(1) + " " + unit;
    }
    return "+" + (seconds * 1000).toFixed(1) + " ms";
  }

  // The timeline's last step is the latest label: replace it, or add it after the stages.
  function showLabelOnTimeline(record) {
    const timeline = document.getElementById("timeline");
    let step = timeline.querySelector("li.labelled");
    if (!step) {
      step = document.createElement("li");
      step.className = "labelled";
      timeline.appendChild(step);
    }
    const name = document.createElement("span");
    name.className = "step";
    name.textContent = "labelled by " + record.label.analyst;
    const delta = document.createElement("span");
    delta.className = "delta";
    delta.textContent = elapsed((new Date(record.label.labelled_at) - new Date(record.received_at)) / 1000);
    step.replaceChildren(name, " ", fraud.timeElement(record.label.labelled_at), " ", delta);
  }

  // Every label given, oldest first, with the one it replaced (the server keeps them all).
  function showLabelHistory(record) {
    let list = document.getElementById("label-history");
    if (!list) {
      const title = document.createElement("h4");
      title.textContent = "History";
      list = document.createElement("ol");
      list.id = "label-history";
      list.className = "label-history";
      error.after(title, list);
    }
    list.replaceChildren(...(record.label_history || []).map((change) => {
      const item = document.createElement("li");
      item.append((change.is_fraud ? "fraud" : "not fraud") + " by " + change.analyst + " at ", fraud.timeElement(change.labelled_at));
      if (change.previous !== null) {
        const was = document.createElement("span");
        was.className = "muted";
        was.textContent = " (was " + (change.previous ? "fraud" : "not fraud") + ")";
        item.append(was);
      }
      return item;
    }));
  }

  for (const button of section.querySelectorAll("button[data-label]")) {
    button.addEventListener("click", async () => {
      const isFraud = button.dataset.label === "true";
      error.hidden = true;
      try {
        const record = await fraud.label(id, isFraud);
        state.replaceChildren(fraud.labelText(record.label) + " at ", fraud.timeElement(record.label.labelled_at));
        state.className = "label-state " + (record.label.is_fraud ? "confirmed" : "cleared");
        showLabelOnTimeline(record);
        showLabelHistory(record);
      } catch (failure) {
        error.textContent = "Could not save the label: " + failure.message;
        error.hidden = false;
      }
    });
  }
})();
