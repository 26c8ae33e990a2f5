// The overview page's script (inlined by src/page.rs): sort, filter, and refresh
// the live part in place. It reads data- attributes and sets textContent only.
"use strict";
(function () {
  const controls = document.getElementById("controls");
  const q = document.getElementById("q");
  const state = document.getElementById("state");
  const project = document.getElementById("project");
  const shown = document.getElementById("shown");
  const status = document.getElementById("refresh");
  let live = document.getElementById("live");
  const every = Number(live.dataset.refreshMs) || 5000;
  let sortCol = -1;
  let sortDir = 1;
  controls.hidden = false;

  function value(row) {
    const v = row.cells[sortCol].dataset.v;
    return v === "" ? null : v;
  }

  function compare(a, b) {
    const x = value(a);
    const y = value(b);
    if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
    const nx = Number(x);
    const ny = Number(y);
    const c = !isNaN(nx) && !isNaN(ny) ? nx - ny : x.localeCompare(y);
    return c * sortDir;
  }

  function projects(rows) {
    const names = [...new Set(rows.map((r) => r.dataset.project).filter((p) => p))].sort();
    const have = [...project.options].slice(1).map((o) => o.value);
    if (names.join("\n") === have.join("\n")) return;
    const keep = project.value;
    project.length = 1;
    for (const name of names) {
      const o = document.createElement("option");
      o.value = name;
      o.textContent = name;
      project.appendChild(o);
    }
    project.value = names.includes(keep) ? keep : "";
  }

  function apply() {
    const table = document.getElementById("containers");
    const body = table.tBodies[0];
    const rows = [...body.rows];
    projects(rows);
    if (sortCol >= 0) {
      rows.sort(compare);
      for (const r of rows) body.appendChild(r);
    }
    for (const th of table.tHead.rows[0].cells) {
      if (Number(th.dataset.col) === sortCol) {
        th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      } else {
        th.removeAttribute("aria-sort");
      }
    }
    const text = q.value.trim().toLowerCase();
    let n = 0;
    for (const r of rows) {
      const ok =
        (!text || r.dataset.name.toLowerCase().includes(text)) &&
        (!state.value ||
          (state.value === "attention" ? r.classList.contains("attn") : r.dataset.state === state.value)) &&
        (!project.value || r.dataset.project === project.value);
      r.hidden = !ok;
      if (ok) n++;
    }
    shown.textContent = n + " of " + rows.length + " shown";
  }

  document.addEventListener("click", (e) => {
    const th = e.target.closest("#containers th[data-col]");
    if (!th) return;
    const col = Number(th.dataset.col);
    sortDir = col === sortCol ? -sortDir : 1;
    sortCol = col;
    apply();
  });
  for (const el of [q, state, project]) el.addEventListener("input", apply);
  controls.addEventListener("submit", (e) => e.preventDefault());

  async function refresh() {
    try {
      const r = await fetch(location.pathname + "?part=live", { cache: "no-store" });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const html = await r.text();
      const next = new DOMParser().parseFromString(html, "text/html").getElementById("live");
      live.replaceWith(next);
      live = next;
      apply();
      status.textContent = "updated " + new Date().toLocaleTimeString();
    } catch (err) {
      status.textContent = "refresh failed (" + err.message + "), retrying";
    } finally {
      setTimeout(refresh, every);
    }
  }
  apply();
  setTimeout(refresh, every);
})();
