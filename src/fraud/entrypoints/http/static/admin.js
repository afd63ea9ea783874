// The admin page: create keys and add users (a secret shown once), revoke either. Each is a
// call to the same API as `fraud keys` and `fraud users`, made as the signed-in admin with
// the page's CSRF token, and audited like any other.
(function () {
  const fraud = window.fraud;

  function show(id, text) {
    const element = document.getElementById(id);
    element.textContent = text;
    element.hidden = !text;
    return element;
  }

  // The secret, once, in a box the admin can select and copy; the tables refresh after it is
  // read (a reload would lose it).
  function secret(id, what, value) {
    const box = show(id, "");
    const code = document.createElement("code");
    code.textContent = value;
    const done = document.createElement("button");
    done.type = "button";
    done.textContent = "I have kept it";
    done.addEventListener("click", () => window.location.reload());
    box.replaceChildren(what + " (shown only now, keep it somewhere safe): ", code, " ", done);
    box.hidden = false;
  }

  function values(form) {
    const found = {};
    for (const [name, value] of new FormData(form).entries()) if (String(value).trim()) found[name] = String(value).trim();
    return found;
  }

  document.getElementById("key-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    show("key-error", "");
    const wanted = values(event.target);
    try {
      const issued = await fraud.send("POST", "/api/keys", wanted);
      event.target.reset();
      secret("key-secret", "Key " + issued.name + " (" + issued.role + ")", issued.key);
    } catch (failure) {
      show("key-error", "Not created: " + failure.message);
    }
  });

  document.getElementById("user-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    show("user-error", "");
    const wanted = values(event.target);
    try {
      const added = await fraud.send("POST", "/api/users", wanted);
      event.target.reset();
      if (added.password) secret("user-secret", "Password of " + added.name, added.password);
      else window.location.reload();
    } catch (failure) {
      show("user-error", "Not added: " + failure.message);
    }
  });

  for (const button of document.querySelectorAll("button[data-revoke]")) {
    button.addEventListener("click", async () => {
      const kind = button.dataset.revoke;
      const row = button.closest("tr");
      const name = row.dataset.name;
      const consequence = kind === "key" ? "it stops working within a second" : "they are signed out everywhere";
      if (!window.confirm("Revoke the " + kind + " " + name + "? " + consequence + "; this cannot be undone.")) return;
      const error = kind === "key" ? "key-error" : "user-error";
      show(error, "");
      try {
        await fraud.send("DELETE", "/api/" + kind + "s/" + encodeURIComponent(name));
        window.location.reload();
      } catch (failure) {
        show(error, "Not revoked: " + failure.message);
      }
    });
  }
})();
