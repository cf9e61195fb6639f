// The deals board: drag a card to another column to move the deal (SortableJS).
// The server answers with the re-rendered board (new totals), or with the board as it was plus
// the reason when the move was refused; either way the board shown is the server's truth.
"use strict";

(function () {
  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (e) {
      return "";
    }
  }

  function showError(message) {
    const box = document.getElementById("board-flash");
    if (!box) return;
    box.innerHTML = "";
    const flash = document.createElement("div");
    flash.className = "flash flash-error";
    flash.setAttribute("role", "alert");
    flash.textContent = message;
    box.appendChild(flash);
  }

  function clearError() {
    const box = document.getElementById("board-flash");
    if (box) box.innerHTML = "";
  }

  // Resolves with the reason typed in the dialog, or null when cancelled or left empty.
  function askLostReason() {
    const dialog = document.getElementById("lost-dialog");
    const input = document.getElementById("lost-reason-input");
    if (!dialog || typeof dialog.showModal !== "function") {
      const answer = window.prompt(dialog ? dialog.querySelector("h2").textContent : "");
      return Promise.resolve(answer && answer.trim() ? answer.trim() : null);
    }
    return new Promise((resolve) => {
      input.value = "";
      dialog.returnValue = "";
      dialog.addEventListener(
        "close",
        () => resolve(dialog.returnValue === "ok" && input.value.trim() ? input.value.trim() : null),
        { once: true }
      );
      dialog.showModal();
      input.focus();
    });
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
    board.replaceWith(fresh);
    init();
    return true;
  }

  async function move(evt) {
    const board = document.getElementById("board");
    const failed = board.dataset.msgFailed;
    const card = evt.item;
    const target = evt.to;
    let reason = null;
    if (target.dataset.stageKind === "lost") {
      reason = await askLostReason();
      if (!reason) {
        putBack(evt);
        return;
      }
    }
    const body = new URLSearchParams({
      stage_id: target.dataset.stageId,
      board: "1",
      filters: board.dataset.filters || "",
    });
    if (reason) body.set("lost_reason", reason);
    let response;
    try {
      response = await fetch("/deals/" + card.dataset.dealId + "/move", {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "X-CSRF-Token": csrfToken(),
          "HX-Request": "true",
          "Content-Type": "application/x-www-form-urlencoded",
        },
        body: body,
      });
    } catch (e) {
      putBack(evt);
      showError(failed);
      return;
    }
    if (response.headers.get("X-Carnet-Board") === "1") {
      replaceBoard(await response.text());
      if (response.ok) {
        clearError();
      } else {
        const fresh = document.querySelector("#board [data-board-error]");
        showError(fresh ? fresh.textContent.trim() : failed);
        if (fresh) fresh.remove();
      }
      return;
    }
    putBack(evt);
    showError(failed);
  }

  function init() {
    const board = document.getElementById("board");
    if (typeof Sortable === "undefined" || !board || board.dataset.canMove !== "1") return;
    document.querySelectorAll("#board .kanban-cards").forEach((list) => {
      if (list.dataset.sortable) return;
      list.dataset.sortable = "1";
      Sortable.create(list, {
        group: "deals",
        animation: 150,
        delay: 150,
        delayOnTouchOnly: true,
        ghostClass: "sortable-ghost",
        chosenClass: "sortable-chosen",
        dragClass: "sortable-drag",
        onMove: (e) => {
          document.querySelectorAll("#board .kanban-cards.drag-over").forEach((el) => el.classList.remove("drag-over"));
          e.to.classList.add("drag-over");
        },
        onEnd: (evt) => {
          document.querySelectorAll("#board .kanban-cards.drag-over").forEach((el) => el.classList.remove("drag-over"));
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
