// The project board: drag a card to another phase column. The server closes (forward) or reopens
// (backward) phases with their checks and answers the re-rendered board; when a check refuses the
// move, the board comes back as it was with the missing items shown above it.
"use strict";

(function () {
  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  function showMessage(node) {
    const box = document.getElementById("board-flash");
    if (!box) return;
    box.innerHTML = "";
    if (node) box.appendChild(node);
  }

  function failure(message) {
    const flash = document.createElement("div");
    flash.className = "flash flash-error";
    flash.setAttribute("role", "alert");
    flash.textContent = message;
    return flash;
  }

  function putBack(evt) {
    const reference = evt.from.children[evt.oldIndex] || null;
    evt.from.insertBefore(evt.item, reference);
  }

  function replaceBoard(html) {
    const board = document.getElementById("board");
    const holder = document.createElement("div");
    holder.innerHTML = html.trim();
    const fresh = holder.querySelector("#board");
    if (!board || !fresh) return false;
    // The refusal (if any) moves to the message area above the filters' row.
    const refusal = fresh.querySelector("[data-board-error]");
    if (refusal) refusal.remove();
    board.replaceWith(fresh);
    showMessage(refusal);
    init();
    return true;
  }

  async function move(evt) {
    const board = document.getElementById("board");
    const failed = board.dataset.msgFailed;
    const body = new URLSearchParams({
      position: evt.to.dataset.position,
      template_id: board.dataset.templateId || "",
      filters: board.dataset.filters || "",
    });
    let response;
    try {
      response = await fetch("/projects/" + evt.item.dataset.projectId + "/move", {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "X-CSRF-Token": csrfToken(),
          "Content-Type": "application/x-www-form-urlencoded",
        },
        body: body,
      });
    } catch (e) {
      putBack(evt);
      showMessage(failure(failed));
      return;
    }
    if (response.headers.get("X-Carnet-Board") === "1" && replaceBoard(await response.text())) return;
    putBack(evt);
    showMessage(failure(failed));
  }

  function init() {
    const board = document.getElementById("board");
    if (typeof Sortable === "undefined" || !board || board.dataset.canMove !== "1") return;
    board.querySelectorAll(".kanban-cards").forEach((list) => {
      Sortable.create(list, {
        group: "projects",
        animation: 150,
        delay: 150,
        delayOnTouchOnly: true,
        ghostClass: "sortable-ghost",
        chosenClass: "sortable-chosen",
        dragClass: "sortable-drag",
        onMove: (e) => {
          board.querySelectorAll(".kanban-cards.drag-over").forEach((el) => el.classList.remove("drag-over"));
          e.to.classList.add("drag-over");
        },
        onEnd: (evt) => {
          board.querySelectorAll(".kanban-cards.drag-over").forEach((el) => el.classList.remove("drag-over"));
          if (evt.from === evt.to) return;
          move(evt);
        },
      });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
