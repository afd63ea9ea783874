// Working review cases with the keyboard: n the next case of the queue, c claim, f fraud,
// g not fraud, w needs information, m a note (Enter adds it, Escape leaves it); and each SLA's
// countdown. Shortcuts are off while typing in a field.
(function () {
  const page = document.getElementById("case") || document.getElementById("queue");
  if (!page) return;
  const caseId = page.dataset.caseId;
  const queue = page.dataset.queue;
  const mayWork = page.dataset.mayWork === "true";
  const error = document.getElementById("case-error");
  const done = document.getElementById("case-done");
  const state = document.getElementById("case-state");

  function failed(reason) {
    if (!error) return;
    error.textContent = reason.message || String(reason);
    error.hidden = false;
  }

  function said(text) {
    if (error) error.hidden = true;
    if (done) {
      done.textContent = text;
      done.hidden = false;
    }
  }

  async function next() {
    try {
      const claimed = await fraud.send("POST", "/api/queues/" + encodeURIComponent(queue) + "/next");
      window.location.assign("/dashboard/cases/" + claimed.id);
    } catch (reason) {
      failed(reason);
    }
  }

  async function claim() {
    try {
      const claimed = await fraud.send("POST", "/api/cases/" + caseId + "/claim");
      page.dataset.status = claimed.status;
      state.textContent = "held by " + claimed.assignee;
      said("claimed");
    } catch (reason) {
      failed(reason);
    }
  }

  const WORDS = { fraud: "fraud", not_fraud: "not fraud", needs_info: "needs information" };

  async function resolve(disposition) {
    const wholeCard = document.getElementById("whole-card");
    try {
      const changed = await fraud.send("POST", "/api/cases/" + caseId + "/resolve", {
        disposition: disposition,
        whole_card: Boolean(wholeCard && wholeCard.checked),
      });
      const mine = changed[0];
      page.dataset.status = mine.status;
      state.textContent = mine.status === "resolved"
        ? "resolved: " + WORDS[disposition] + " by " + mine.resolved_by
        : "waiting on information (" + mine.assignee + ")";
      const label = document.getElementById("label-state");
      if (label && mine.status === "resolved") {
        label.textContent = (disposition === "fraud" ? "confirmed fraud" : "cleared: not fraud") + " by " + mine.resolved_by;
      }
      const others = changed.length - 1;
      said(WORDS[disposition] + (others ? " (and " + others + " more of the card's cases)" : "") + ": press n for the next case");
    } catch (reason) {
      failed(reason);
    }
  }

  const noteForm = document.getElementById("note-form");
  const noteText = document.getElementById("note-text");

  async function note() {
    const text = noteText.value;
    if (!text.trim()) return;
    try {
      const added = await fraud.send("POST", "/api/cases/" + caseId + "/note", { text: text });
      const notes = document.getElementById("notes");
      const empty = notes.querySelector(".empty");
      if (empty) empty.remove();
      const item = document.createElement("li");
      const body = document.createElement("span");
      body.className = "text";
      body.textContent = added.text;
      const who = document.createElement("span");
      who.className = "muted";
      who.textContent = " " + added.by + " · " + fraud.when(added.at);
      item.append(body, who);
      notes.append(item);
      noteText.value = "";
      noteText.blur();
      said("noted");
    } catch (reason) {
      failed(reason);
    }
  }

  if (noteForm) {
    noteForm.addEventListener("submit", (event) => {
      event.preventDefault();
      note();
    });
    noteText.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        note();
      } else if (event.key === "Escape") {
        noteText.blur();
      }
    });
  }

  const listForm = document.getElementById("list-form");
  if (listForm) {
    listForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const form = new FormData(listForm);
      const body = { list: form.get("list"), reason: form.get("reason") };
      if (form.get("days")) body.days = Number(form.get("days"));
      try {
        const entry = await fraud.send("POST", "/api/cases/" + caseId + "/list", body);
        said(entry.value + " is on list " + body.list + (entry.expires_at ? " until " + fraud.when(entry.expires_at) : ""));
      } catch (reason) {
        failed(reason);
      }
    });
  }

  const nextButton = document.getElementById("next-case");
  if (nextButton) nextButton.addEventListener("click", next);
  for (const button of page.querySelectorAll("[data-disposition]")) {
    button.addEventListener("click", () => resolve(button.dataset.disposition));
  }
  const claimButton = page.querySelector('[data-act="claim"]');
  if (claimButton) claimButton.addEventListener("click", claim);

  const KEYS = { n: next, c: claim, f: () => resolve("fraud"), g: () => resolve("not_fraud"), w: () => resolve("needs_info") };

  document.addEventListener("keydown", (event) => {
    if (!mayWork || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) return;
    if (event.key === "m" && noteText) {
      event.preventDefault();
      noteText.focus();
      return;
    }
    const act = KEYS[event.key];
    if (!act || (event.key !== "n" && !caseId)) return;
    event.preventDefault();
    act();
  });

  // Each SLA's countdown, once a second: "due in 12 min", "3 min past the SLA".
  function minutes(ms) {
    const whole = Math.floor(Math.abs(ms) / 60000);
    return whole >= 60 ? Math.floor(whole / 60) + " h " + (whole % 60) + " min" : whole + " min";
  }

  function countdowns() {
    const now = Date.now();
    for (const cell of document.querySelectorAll("[data-due]")) {
      const left = new Date(cell.dataset.due).getTime() - now;
      cell.textContent = left >= 0 ? "due in " + minutes(left) : minutes(left) + " past the SLA";
      cell.classList.toggle("breached", left < 0);
    }
  }

  for (const bar of document.querySelectorAll("[data-share]")) bar.style.width = bar.dataset.share + "%";
  countdowns();
  setInterval(countdowns, 1000);
})();
