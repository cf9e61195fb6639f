// Small behaviours of the UI shell. Rich widgets live in their own islands.
"use strict";

function setTab(link) {
  const tabs = link.closest(".tabs");
  if (!tabs) return;
  tabs.querySelectorAll(".tab").forEach((t) => t.classList.remove("active"));
  link.classList.add("active");
}
window.setTab = setTab;

document.addEventListener("click", (event) => {
  const all = event.target.closest("[data-check-all]");
  if (all) {
    document.querySelectorAll("input[name='ids']").forEach((box) => { box.checked = all.checked; });
  }
});

// Close the search dropdown with Escape.
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    const results = document.getElementById("search-results");
    if (results) results.innerHTML = "";
  }
});
