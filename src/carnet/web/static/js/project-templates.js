// The project template editor (settings): add, remove and reorder (SortableJS) phases, tasks and
// items, then serialise the whole definition into the hidden "definition" field on save. The
// server validates it and re-renders the editor with each error next to its input.
"use strict";

(function () {
  const form = document.getElementById("template-form");
  if (!form) return;
  const phases = document.getElementById("phases");

  function sortable(el) {
    if (window.Sortable && !el.dataset.sortableReady) {
      window.Sortable.create(el, { handle: ".drag-handle", animation: 150, onEnd: renumber });
      el.dataset.sortableReady = "1";
    }
  }

  function clone(id) {
    const tpl = document.getElementById(id);
    const node = tpl.content.firstElementChild.cloneNode(true);
    node.querySelectorAll("[data-path]").forEach((el) => el.removeAttribute("data-path"));
    node.removeAttribute("data-path");
    return node;
  }

  function renumber() {
    phases.querySelectorAll(":scope > .tpl-phase .tpl-phase-number").forEach((el, i) => {
      el.textContent = String(i + 1);
    });
  }

  function wire(root) {
    if (root.matches && root.matches("[data-sortable]")) sortable(root);
    root.querySelectorAll("[data-sortable]").forEach(sortable);
  }

  function value(root, field) {
    const el = root.querySelector('[data-field="' + field + '"]');
    return el ? el.value.trim() : "";
  }

  function orNull(text) {
    return text === "" ? null : text;
  }

  function task(row) {
    const type = value(row, "task-assignee-type") || "owner";
    const assignee = { type: type };
    if (type === "user") assignee.user_id = orNull(value(row, "task-user-id"));
    if (type === "member_role") assignee.role = value(row, "task-role");
    const due = value(row, "task-due-days");
    return {
      title: value(row, "task-title"),
      description: orNull(value(row, "task-description")),
      due_days: due === "" ? null : /^\d+$/.test(due) ? Number(due) : due,
      priority: value(row, "task-priority") || "normal",
      assignee: assignee,
    };
  }

  function items(phase, list) {
    const box = phase.querySelector('.tpl-items[data-list="' + list + '"]');
    if (!box) return [];
    return Array.from(box.querySelectorAll(":scope > .tpl-item")).map((row) => {
      if (list !== "required_fields") return row.querySelector("[data-item]").value.trim();
      const kind = row.querySelector('[data-field="required-kind"]');
      const takesParam = kind.selectedOptions[0] && kind.selectedOptions[0].dataset.param === "1";
      const param = value(row, "required-param");
      return takesParam ? kind.value + ":" + param : kind.value;
    });
  }

  function serialise() {
    return {
      phases: Array.from(phases.querySelectorAll(":scope > .tpl-phase")).map((phase) => ({
        key: value(phase, "phase-key"),
        name: value(phase, "phase-name"),
        description: orNull(value(phase, "phase-description")),
        tasks: Array.from(phase.querySelectorAll(".tpl-tasks > .tpl-task")).map(task),
        checklist: items(phase, "checklist"),
        documents: items(phase, "documents"),
        required_fields: items(phase, "required_fields"),
      })),
    };
  }

  form.addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "add-phase") {
      const card = clone("tpl-new-phase");
      phases.appendChild(card);
      wire(card);
      renumber();
      card.querySelector('[data-field="phase-name"]').focus();
    } else if (action === "remove-phase") {
      button.closest(".tpl-phase").remove();
      renumber();
    } else if (action === "add-task") {
      const row = clone("tpl-new-task");
      button.closest(".tpl-phase").querySelector(".tpl-tasks").appendChild(row);
      row.querySelector('[data-field="task-title"]').focus();
    } else if (action === "add-item") {
      const list = button.dataset.list;
      const row = clone("tpl-new-" + list);
      button.closest("div").querySelector('.tpl-items[data-list="' + list + '"]').appendChild(row);
      const input = row.querySelector("input:not([hidden]), select");
      if (input) input.focus();
    } else if (action === "remove") {
      button.closest(".tpl-task, .tpl-item").remove();
    }
  });

  form.addEventListener("change", (event) => {
    const el = event.target;
    if (el.dataset.field === "task-assignee-type") {
      const row = el.closest(".tpl-task");
      row.querySelectorAll("[data-assignee]").forEach((box) => {
        box.hidden = box.dataset.assignee !== el.value;
      });
    } else if (el.dataset.field === "required-kind") {
      const param = el.closest(".tpl-item").querySelector('[data-field="required-param"]');
      param.hidden = !(el.selectedOptions[0] && el.selectedOptions[0].dataset.param === "1");
      if (!param.hidden) param.focus();
    }
  });

  form.addEventListener("submit", () => {
    document.getElementById("definition-json").value = JSON.stringify(serialise());
  });

  function start() {
    sortable(phases);
    wire(form);
  }
  if (window.Sortable) start();
  else window.addEventListener("load", start);
})();
