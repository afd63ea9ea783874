// The transaction page's label buttons: record the analyst's verdict and show it without a reload.
(function () {
  const section = document.querySelector("[data-transaction-id]");
  const id = section.dataset.transactionId;
  const state = document.getElementById("label-state");
  const error = document.getElementById("label-error");

  // As the server words it (presenters.elapsed): ms for the pipeline, larger units after.
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
    const at = document.createElement("time");
    at.textContent = record.label.labelled_at;
    const delta = document.createElement("span");
    delta.className = "delta";
    delta.textContent = elapsed((new Date(record.label.labelled_at) - new Date(record.received_at)) / 1000);
    step.replaceChildren(name, " ", at, " ", delta);
  }

  for (const button of section.querySelectorAll("button[data-label]")) {
    button.addEventListener("click", async () => {
      const isFraud = button.dataset.label === "true";
      error.hidden = true;
      try {
        const record = await window.fraud.label(id, isFraud);
        state.textContent = window.fraud.labelText(record.label) + " at " + record.label.labelled_at;
        state.className = "label-state " + (record.label.is_fraud ? "confirmed" : "cleared");
        showLabelOnTimeline(record);
      } catch (failure) {
        error.textContent = "Could not save the label: " + failure.message;
        error.hidden = false;
      }
    });
  }
})();
