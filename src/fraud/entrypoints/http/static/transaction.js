// The transaction page's label buttons: record the analyst's verdict and show it without a reload.
(function () {
  const section = document.querySelector("[data-transaction-id]");
  const id = section.dataset.transactionId;
  const state = document.getElementById("label-state");
  const error = document.getElementById("label-error");

  for (const button of section.querySelectorAll("button[data-label]")) {
    button.addEventListener("click", async () => {
      const isFraud = button.dataset.label === "true";
      error.hidden = true;
      try {
        const record = await window.fraud.label(id, isFraud);
        state.textContent = window.fraud.labelText(record.label) + " at " + record.label.labelled_at;
        state.className = "label-state " + (record.label.is_fraud ? "confirmed" : "cleared");
      } catch (failure) {
        error.textContent = "Could not save the label: " + failure.message;
        error.hidden = false;
      }
    });
  }
})();
