// What is wrong with a page as drawn, for the browser tests (tests/e2e/chromium.py):
// - overflowing: every element whose content is wider than its box and is not a scroll box
//   made for it (overflow auto or scroll): text cut off, or spilling over what is beside it.
//   The page's own width counts too: a page wider than the window scrolls sideways. A form
//   field scrolls its own text; its box is checked like any other.
// - wrapped: every table cell or panel value of a number, an amount, an id or a time (and
//   every time element, badge and counter) whose text takes more than one line.
() => {
  const describe = (element) => {
    const id = element.id ? "#" + element.id : "";
    const name = typeof element.className === "string" ? element.className.trim() : "";
    const classes = name ? "." + name.split(/\s+/).join(".") : "";
    const text = (element.textContent || "").trim().slice(0, 60);
    return element.tagName.toLowerCase() + id + classes + " " + text;
  };

  const overflowing = [];
  for (const element of document.querySelectorAll("*")) {
    if (["INPUT", "TEXTAREA", "SELECT"].includes(element.tagName)) continue;
    if (!element.clientWidth || element.scrollWidth <= element.clientWidth + 1) continue;
    const overflow = getComputedStyle(element).overflowX;
    const scrolls = overflow === "auto" || overflow === "scroll";
    if (element !== document.documentElement && scrolls) continue;
    overflowing.push(describe(element) + " (" + element.scrollWidth + " > " + element.clientWidth + ")");
  }

  const wrapped = [];
  const values = "td.num, td.id, td.time, dd.num, dd.id, time, .badge:not(#drift-state), .counter .value";
  for (const element of document.querySelectorAll(values)) {
    if (!element.offsetParent || !element.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(element);
    const drawn = [...range.getClientRects()].filter((rect) => rect.width > 0);
    const lines = new Set(drawn.map((rect) => Math.round(rect.top)));
    if (lines.size > 1) wrapped.push(describe(element));
  }
  return { overflowing, wrapped };
}
