// The webhooks page: subscribe (the secret is shown this once), remove, replay what failed.
(function () {
  const form = document.getElementById("webhook-form");
  const secret = document.getElementById("webhook-secret");
  const error = document.getElementById("webhook-error");

  function failed(reason) {
    error.textContent = reason.message || String(reason);
    error.hidden = false;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      const made = await fraud.send("POST", "/api/webhooks", {
        url: data.get("url"),
        events: data.getAll("events"),
        description: data.get("description") || "",
      });
      error.hidden = true;
      secret.textContent = "Subscribed (id " + made.subscription.id + "). Its signing secret, shown this once: " + made.secret;
      secret.hidden = false;
      form.reset();
    } catch (reason) {
      failed(reason);
    }
  });

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("[data-remove], [data-replay]");
    if (!button) return;
    try {
      if (button.dataset.remove) {
        await fraud.send("DELETE", "/api/webhooks/" + button.dataset.remove);
      } else {
        await fraud.send("POST", "/api/webhooks/" + button.dataset.replay + "/replay", {});
      }
      window.location.reload();
    } catch (reason) {
      failed(reason);
    }
  });
})();
