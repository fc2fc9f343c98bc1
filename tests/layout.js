// What a person can read of the page's settings and face table, for tests/test_browser.py:
// each settings label's size, and each table cell whose text is cut short or lies outside
// the table's visible width (or the window's).
(labels) => {
  const view = document.documentElement.clientWidth;
  const found = {};
  for (const text of labels) {
    // the innermost element holding the label's whole text
    const el = [...document.querySelectorAll("label span, label")].find((e) => e.innerText.trim() === text);
    if (!el) { found[text] = null; continue; }
    const r = el.getBoundingClientRect();
    const line = parseFloat(getComputedStyle(el).lineHeight) || 1.5 * parseFloat(getComputedStyle(el).fontSize);
    found[text] = { width: r.width, lines: Math.round(r.height / line), right: r.right };
  }
  const grid = document.querySelector("#photo-summary [role=grid]");
  const box = grid.getBoundingClientRect();
  const rows = [...grid.querySelectorAll("[role=row]")];  // the header row, then one per face
  const cells = rows.flatMap((row) => [...row.children]);
  const cut = [];
  for (const cell of cells) {
    const text = cell.querySelector("span") || cell;
    const r = cell.getBoundingClientRect();
    if (text.scrollWidth > text.clientWidth + 1 || r.right > Math.min(box.right, view) + 1) cut.push(cell.innerText.trim());
  }
  return { view, labels: found, columns: rows.length ? rows[0].children.length : 0, cells: cells.length, cut };
}
