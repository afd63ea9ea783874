// What every page shares: labelling a transaction as the signed-in analyst.
(function () {
  // The page's CSRF token: a label is a state change made with the session cookie.
  const csrf = document.querySelector('meta[name="csrf-token"]');

  // POST /transaction/<id>/label; resolves to the updated transaction, rejects with the API's message.
  async function label(transactionId, isFraud) {
    const response = await fetch("/transaction/" + encodeURIComponent(transactionId) + "/label", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.content : "" },
      credentials: "same-origin",
      body: JSON.stringify({ is_fraud: isFraud }),
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

  window.fraud = { label, labelText };
})();
