// Task board: drag a card to another column to change its status (SortableJS island).
"use strict";

(function () {
  const board = document.querySelector("[data-task-board]");
  if (!board || !window.Sortable || board.hasAttribute("data-readonly")) return;
  let csrf = "";
  try {
    csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
  } catch (err) {
    csrf = "";
  }

  function recount() {
    board.querySelectorAll(".kanban-col").forEach((col) => {
      const count = col.querySelector(".kanban-count");
      if (count) count.textContent = String(col.querySelectorAll(".kanban-card").length);
    });
  }

  async function move(card, status) {
    const response = await fetch(`/tasks/${card.dataset.taskId}/status`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ status: status }),
    });
    if (!response.ok) throw new Error(String(response.status));
    return response.json();
  }

  board.querySelectorAll(".kanban-cards").forEach((zone) => {
    window.Sortable.create(zone, {
      group: "tasks",
      animation: 150,
      ghostClass: "sortable-ghost",
      chosenClass: "sortable-chosen",
      onEnd: async (event) => {
        if (event.from === event.to) return;
        recount();
        try {
          const result = await move(event.item, event.to.dataset.status);
          // A recurring task completed here has a new occurrence to show in "To do".
          if (result.next_task_id) window.location.reload();
        } catch (err) {
          window.alert(board.dataset.errorMessage);
          window.location.reload();
        }
      },
    });
  });
})();
