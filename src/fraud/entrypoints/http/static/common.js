// What every page shares: labelling a transaction as the signed-in analyst.
(function () {
  // The page's CSRF token: a label is a state change made with the session cookie.
  const csrf = document.querySelector('meta[name="csrf-token"]');

  // A JSON request as the signed-in person; resolves to the answer's body, rejects with the
  // API's message (its details, and the position of an expression's error, on the Error).
  async function send(method, url, body) {
    const response = await fetch(url, {
      method: method,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.content : "" },
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const payload = await response.json();
    if (!response.ok) {
      const details = (payload.details || []).map((d) => d.field + " " + d.rule).join("; ");
      const failure = new Error(payload.error + (details ? ": " + details : ""));
      failure.position = payload.position || null;
      throw failure;
    }
    return payload;
  }

  // POST /transaction/<id>/label; resolves to the updated transaction, rejects with the API's message.
  function label(transactionId, isFraud) {
    return send("POST", "/transaction/" + encodeURIComponent(transactionId) + "/label", { is_fraud: isFraud });
  }

  function labelText(label) {
    if (!label) return "";
    return (label.is_fraud ? "confirmed fraud" : "cleared: not fraud") + " by " + label.analyst;
  }

  window.fraud = { send, label, labelText };
})();
