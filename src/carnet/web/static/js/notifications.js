// The notification bell: live unread count from /notifications/stream (server-sent events), the
// dropdown loaded when opened, and "read" marked when a notification's link is followed.
"use strict";

(function () {
  const menu = document.getElementById("notif-menu");
  if (!menu) return;
  const badge = menu.querySelector(".bell-count");
  const panel = document.getElementById("notif-panel");
  const csrf = () => {
    try { return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || ""; }
    catch (e) { return ""; }
  };

  function showCount(count) {
    badge.textContent = count > 99 ? "99+" : String(count);
    badge.hidden = count === 0;
  }

  function loadMenu() {
    if (window.htmx) htmx.ajax("GET", "/notifications/menu", { target: panel, swap: "innerHTML" });
  }

  if (window.EventSource) {
    const source = new EventSource("/notifications/stream");
    source.addEventListener("count", (event) => {
      const count = parseInt(event.data, 10);
      if (Number.isNaN(count)) return;
      const changed = badge.textContent !== String(count);
      showCount(count);
      if (changed && menu.open) loadMenu();
    });
  }

  menu.addEventListener("toggle", () => { if (menu.open) loadMenu(); });
  document.addEventListener("click", (event) => {
    if (menu.open && !menu.contains(event.target)) menu.open = false;
  });
  document.body.addEventListener("notifications-changed", () => { if (menu.open) loadMenu(); });

  // Following a notification's link marks it read; keepalive lets the request outlive the page.
  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-read-url]");
    if (!link || !link.dataset.readUrl) return;
    fetch(link.dataset.readUrl, {
      method: "POST", keepalive: true, credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf() },
    });
  });
})();
