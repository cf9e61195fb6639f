// The lines editor of quotes and invoices (documents/_lines_editor.html): add and remove lines and
// sections, pick from the catalogue, drag to reorder; every change asks the server for the totals
// (the form's hx-post, on the "lines-changed" event).
(function () {
  const form = document.querySelector("form[data-lines-editor]");
  const body = document.getElementById("document-lines");
  if (!form || !body) return;
  const changed = () => { if (window.htmx) htmx.trigger(form, "lines-changed"); };
  function toggleReason(row) {
    const rate = row.querySelector('[name="line_vat_rate"]');
    const reason = row.querySelector('[name="line_vat_exemption_reason"]');
    if (rate && reason) reason.hidden = rate.value !== "0.00";
  }
  function addLine(kind, data) {
    const tpl = document.getElementById("line-template-" + kind);
    const row = tpl.content.firstElementChild.cloneNode(true);
    if (data) {
      for (const [key, value] of Object.entries(data)) {
        const input = row.querySelector('[name="line_' + key + '"]');
        if (input && value !== null && value !== undefined) input.value = value;
      }
      toggleReason(row);
    }
    body.appendChild(row);
    const first = row.querySelector('[name="line_description"]');
    if (first && !data) first.focus();
    changed();
  }
  form.querySelectorAll("[data-add-line]").forEach((b) => b.addEventListener("click", () => addLine(b.dataset.addLine)));
  body.addEventListener("click", (e) => {
    const remove = e.target.closest("[data-remove-line]");
    if (remove) { remove.closest("tr").remove(); changed(); }
  });
  body.addEventListener("change", (e) => { const row = e.target.closest("tr"); if (row) toggleReason(row); });
  document.addEventListener("click", (e) => {
    const pick = e.target.closest("[data-product]");
    if (!pick) return;
    addLine("item", JSON.parse(pick.dataset.product));
    form.querySelector("[data-product-results]").innerHTML = "";
    form.querySelector('[data-testid="product-search"]').value = "";
  });
  function sortable() {
    if (!window.Sortable) return setTimeout(sortable, 50);
    Sortable.create(body, { handle: ".drag-handle", animation: 120, forceFallback: true, onEnd: changed });
  }
  sortable();
})();
