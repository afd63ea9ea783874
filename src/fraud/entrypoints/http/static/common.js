// What every page shares: sending as the signed-in person, labelling a transaction, and the
// words for times, amounts and ids (times in the viewer's own zone, to the second).
(function () {
  // The page's CSRF token: a change made with the session cookie must carry it.
  const csrf = document.querySelector('meta[name="csrf-token"]');

  // A JSON request as the signed-in person; resolves to the answer's body (null for an empty
  // one), rejects with the API's message (its details, and the position of an expression's
  // error, on the Error).
  async function send(method, url, body) {
    const response = await fetch(url, {
      method: method,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf ? csrf.content : "" },
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const payload = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const details = ((payload && payload.details) || []).map((d) => d.field + " " + d.rule).join("; ");
      const failure = new Error(((payload && payload.error) || response.statusText) + (details ? ": " + details : ""));
      failure.position = (payload && payload.position) || null;
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

  const two = (n) => String(n).padStart(2, "0");

  // An instant in the viewer's zone to the second: 2026-12-06 04:16:42.
  function when(iso) {
    const at = new Date(iso);
    if (isNaN(at)) return iso || "";
    return at.getFullYear() + "-" + two(at.getMonth() + 1) + "-" + two(at.getDate()) + " " + clock(at);
  }

  function clock(at) {
    return two(at.getHours()) + ":" + two(at.getMinutes()) + ":" + two(at.getSeconds());
  }

  // The time alone for today's instants, the date too for older ones.
  function recently(iso) {
    const at = new Date(iso);
    if (isNaN(at)) return iso || "";
    return at.toDateString() === new Date().toDateString() ? clock(at) : when(iso);
  }

  // A <time> element for an instant, in the viewer's zone, the instant in UTC on hover.
  function timeElement(iso, short) {
    const element = document.createElement("time");
    element.dateTime = iso;
    element.textContent = short ? recently(iso) : when(iso);
    element.title = iso;
    return element;
  }

  // 1,649.76 USD
  function money(amount, currency) {
    const digits = amount === Math.round(amount) && currency === "JPY" ? 0 : 2;
    return amount.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }) + " " + currency;
  }

  // A long id shortened to its ends (the whole on hover and in the link): ids are one line,
  // and a table of them still fits a narrow window.
  function shortId(id) {
    return id.length <= 14 ? id : id.slice(0, 7) + "…" + id.slice(-5);
  }

  // Every <time datetime> the server rendered (in UTC), in the viewer's zone.
  function localTimes(root) {
    for (const element of (root || document).querySelectorAll("time[datetime]")) {
      element.title = element.dateTime;
      element.textContent = when(element.dateTime);
    }
  }

  localTimes();

  // A button only a script can serve comes disabled (data-scripted), so that a click before
  // the page's scripts have run is not lost: they have, by the time the document is loaded.
  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll("button[data-scripted]")) button.disabled = false;
  });
  window.fraud = { send, label, labelText, when, recently, timeElement, money, shortId, localTimes };
})();
