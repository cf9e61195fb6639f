// Keyboard navigation in the top-bar search suggestions: arrow keys move the selection,
// Enter opens the selected result (or the full results page when nothing is selected),
// Escape closes the dropdown. The suggestions themselves come from htmx (/search/suggest).
"use strict";

(function () {
  function parts(input) {
    const form = input.closest(".global-search");
    return { form: form, box: form ? form.querySelector(".search-results") : null };
  }

  function items(box) {
    return Array.from(box.querySelectorAll("a.search-result"));
  }

  function select(box, index) {
    const links = items(box);
    links.forEach((link, i) => {
      const on = i === index;
      link.classList.toggle("active", on);
      link.setAttribute("aria-selected", on ? "true" : "false");
      if (on) link.scrollIntoView({ block: "nearest" });
    });
  }

  function current(box) {
    return items(box).findIndex((link) => link.classList.contains("active"));
  }

  function close(box) {
    box.innerHTML = "";
  }

  document.addEventListener("keydown", (event) => {
    const input = event.target.closest && event.target.closest(".global-search input[name='q']");
    if (!input) return;
    const { box } = parts(input);
    if (!box) return;
    const links = items(box);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!links.length) return;
      event.preventDefault();
      const index = current(box);
      const step = event.key === "ArrowDown" ? 1 : -1;
      const next = index === -1 ? (step === 1 ? 0 : links.length - 1) : (index + step + links.length) % links.length;
      select(box, next);
    } else if (event.key === "Enter") {
      const index = current(box);
      if (index !== -1) {
        event.preventDefault();
        window.location.assign(links[index].href);
      }
    } else if (event.key === "Escape") {
      close(box);
    }
  });

  // A new list of suggestions starts without a selection; mark it up as a listbox.
  document.addEventListener("htmx:afterSwap", (event) => {
    const box = event.target;
    if (!box.classList || !box.classList.contains("search-results")) return;
    box.setAttribute("role", "listbox");
    items(box).forEach((link) => link.setAttribute("role", "option"));
  });

  // Clicking elsewhere closes the dropdown.
  document.addEventListener("click", (event) => {
    document.querySelectorAll(".global-search .search-results").forEach((box) => {
      if (!box.closest(".global-search").contains(event.target)) close(box);
    });
  });
})();
