// Vigil dashboard enhancements. The pages work without this file; it adds:
// * forms marked data-keep post in the background: on an error the message shows above the form and
//   what was typed stays; on success the browser goes where the server redirected;
// * tables marked data-table: sortable columns, page size, row counts, first/previous/next/last,
//   and "CSV" (the rows the page shows, so never more than the reader may see);
// * <time data-local> elements in the viewer's time zone, with a relative time;
// * "tick all" checkboxes (data-toggle-all) in table headers.
(function () {
  "use strict";

  function keepInput(form) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const box = form.querySelector(".form-error") || document.createElement("p");
      box.className = "form-error error";
      box.setAttribute("role", "alert");
      box.setAttribute("data-testid", "form-error");
      const button = form.querySelector("button[type=submit], button:not([type])");
      if (button) button.disabled = true;
      try {
        const answer = await fetch(form.action, {
          method: "POST",
          body: new URLSearchParams(new FormData(form, event.submitter)),
          credentials: "same-origin",
        });
        if (answer.ok) {
          if (answer.redirected) {
            // fetch drops the fragment; a URL without one always loads the page again
            window.location.assign(answer.url);
          } else {
            document.open();
            document.write(await answer.text());
            document.close();
          }
          return;
        }
        const html = await answer.text();
        const doc = new DOMParser().parseFromString(html, "text/html");
        const message = doc.querySelector(".error") || doc.querySelector("h1");
        box.textContent = (answer.status + " · ") + (message ? message.textContent.trim() : answer.statusText);
      } catch (err) {
        box.textContent = "Could not reach the server: " + err;
      } finally {
        if (button) button.disabled = false;
      }
      if (!box.parentNode) form.prepend(box);
    });
  }

  function cellText(row, index) {
    const cell = row.cells[index];
    return cell ? cell.textContent.trim() : "";
  }

  function compare(a, b) {
    const na = parseFloat(a.replace(/,/g, "")), nb = parseFloat(b.replace(/,/g, ""));
    if (!isNaN(na) && !isNaN(nb) && /^[-\d.,\s]+$/.test(a) && /^[-\d.,\s]+$/.test(b)) return na - nb;
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
  }

  function csvField(text) {
    return /[",\n]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
  }

  function enhanceTable(table) {
    const body = table.tBodies[0];
    if (!body || !table.tHead) return;
    const rows = Array.from(body.rows).filter((r) => !(r.cells.length === 1 && r.cells[0].colSpan > 1));
    const state = { size: rows.length > 50 ? 25 : 0, page: 0, sortCol: -1, asc: true };
    const bar = document.createElement("div");
    bar.className = "table-bar";
    bar.setAttribute("data-testid", "table-bar");
    table.parentNode.insertBefore(bar, table);
    const heads = Array.from(table.tHead.rows[0].cells);
    heads.forEach(function (th, index) {
      if (th.querySelector("input")) return;
      th.classList.add("sortable");
      th.tabIndex = 0;
      th.title = "Sort";
      const sort = function () {
        state.asc = state.sortCol === index ? !state.asc : true;
        state.sortCol = index;
        heads.forEach((h) => h.removeAttribute("aria-sort"));
        th.setAttribute("aria-sort", state.asc ? "ascending" : "descending");
        rows.sort((a, b) => (state.asc ? 1 : -1) * compare(cellText(a, index), cellText(b, index)));
        rows.forEach((r) => body.appendChild(r));
        state.page = 0;
        draw();
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", (e) => { if (e.key === "Enter") sort(); });
    });
    function pages() { return state.size ? Math.max(1, Math.ceil(rows.length / state.size)) : 1; }
    function draw() {
      const n = pages();
      state.page = Math.min(Math.max(state.page, 0), n - 1);
      rows.forEach(function (row, i) {
        row.hidden = state.size > 0 && (i < state.page * state.size || i >= (state.page + 1) * state.size);
      });
      const first = rows.length ? (state.size ? state.page * state.size + 1 : 1) : 0;
      const last = state.size ? Math.min(rows.length, (state.page + 1) * state.size) : rows.length;
      bar.querySelector(".count").textContent = first + "–" + last + " of " + rows.length;
      bar.querySelector(".where").textContent = "page " + (state.page + 1) + " / " + n;
      bar.querySelectorAll("button[data-go]").forEach(function (b) {
        const go = b.getAttribute("data-go");
        b.disabled = (go === "first" || go === "prev") ? state.page === 0 : state.page >= n - 1;
      });
    }
    bar.innerHTML =
      '<span class="count"></span> <label class="chk">rows per page <select aria-label="rows per page">' +
      [10, 25, 50, 100, 0].map((s) => '<option value="' + s + '">' + (s || "all") + "</option>").join("") +
      "</select></label> " +
      '<button type="button" data-go="first" aria-label="first page">«</button>' +
      '<button type="button" data-go="prev" aria-label="previous page">‹</button>' +
      ' <span class="where"></span> ' +
      '<button type="button" data-go="next" aria-label="next page">›</button>' +
      '<button type="button" data-go="last" aria-label="last page">»</button> ' +
      '<button type="button" data-csv>CSV</button>';
    const select = bar.querySelector("select");
    select.value = String(state.size);
    select.addEventListener("change", function () { state.size = parseInt(select.value, 10); state.page = 0; draw(); });
    bar.querySelectorAll("button[data-go]").forEach(function (b) {
      b.addEventListener("click", function () {
        const go = b.getAttribute("data-go");
        state.page = go === "first" ? 0 : go === "prev" ? state.page - 1 : go === "next" ? state.page + 1 : pages() - 1;
        draw();
      });
    });
    bar.querySelector("button[data-csv]").addEventListener("click", function () {
      const skip = heads.map((h) => !!h.querySelector("input"));
      const line = (cells) => cells.filter((_, i) => !skip[i]).map((c) => csvField(c.textContent.trim())).join(",");
      const text = [line(heads)].concat(rows.map((r) => line(Array.from(r.cells)))).join("\r\n") + "\r\n";
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
      link.download = (table.getAttribute("data-testid") || "vigil-table") + ".csv";
      document.body.appendChild(link);
      link.click();
      link.remove();
    });
    draw();
  }

  const units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];

  function relative(date) {
    const seconds = (date.getTime() - Date.now()) / 1000;
    const format = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
    for (const [unit, size] of units) {
      if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
    }
    return format.format(Math.round(seconds), "second");
  }

  function localTime(el) {
    const date = new Date(el.getAttribute("datetime"));
    if (isNaN(date.getTime())) return;
    const pad = (n) => String(n).padStart(2, "0");
    const zone = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
      .formatToParts(date).find((p) => p.type === "timeZoneName");
    el.title = el.textContent + " · " + relative(date);
    el.textContent = date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + " " + (zone ? zone.value : "");
    const rel = document.createElement("small");
    rel.className = "rel muted";
    rel.textContent = " (" + relative(date) + ")";
    el.after(rel);
  }

  function toggleAll(box) {
    box.addEventListener("change", function () {
      const table = box.closest("table");
      table.querySelectorAll("tbody input[type=checkbox]").forEach(function (c) {
        if (!c.closest("tr").hidden) c.checked = box.checked;
      });
    });
  }

  // Documents framed in a page (the briefing) grow to their full height: one scroll, not two.
  function autosize(frame) {
    const fit = function () {
      try {
        const doc = frame.contentDocument;
        if (doc && doc.documentElement) frame.style.height = doc.documentElement.scrollHeight + 24 + "px";
      } catch (err) { /* another origin: keep the CSS height */ }
    };
    frame.addEventListener("load", fit);
    fit();
  }

  function init(root) {
    root.querySelectorAll("iframe.document").forEach(autosize);
    root.querySelectorAll("form[data-keep]").forEach(keepInput);
    root.querySelectorAll("table[data-table]").forEach(enhanceTable);
    root.querySelectorAll("time[data-local]").forEach(localTime);
    root.querySelectorAll("input[data-toggle-all]").forEach(toggleAll);
  }

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSwap", function (e) { init(e.target); });
})();
