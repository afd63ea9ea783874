// What every page shares: the analyst's name (kept in this browser) and labelling a transaction.
(function () {
  const ANALYST_KEY = "fraud.analyst";
  const input = document.getElementById("analyst");
  if (input) {
    input.value = localStorage.getItem(ANALYST_KEY) || "";
    input.addEventListener("change", () => localStorage.setItem(ANALYST_KEY, input.value.trim()));
  }

  function analyst() {
    return (input && input.value.trim()) || localStorage.getItem(ANALYST_KEY) || "";
  }

  // POST /transaction/<id>/label; resolves to the updated transaction, rejects with the API's message.
  async function label(transactionId, isFraud) {
    const body = { is_fraud: isFraud };
    if (analyst()) body.analyst = analyst();
    const response = await fetch("/transaction/" + encodeURIComponent(transactionId) + "/label", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const payload = await response.json();
    if (!response.ok) {
      const details = (payload.details || []).map((d) => d.field + " " + d.rule).join("; ");
      throw new Error(payload.error + (details ? ": " + details : ""));
    }
    return payload;
  }

  function labelText(label) {
    if (!label) return "";
    return (label.is_fraud ? "confirmed fraud" : "cleared: not fraud") + " by " + label.analyst;
  }

  window.fraud = { analyst, label, labelText };
})();
