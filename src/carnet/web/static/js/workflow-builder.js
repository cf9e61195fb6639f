// Workflow builder: a canvas of nodes (trigger, condition, action, wait, stop) joined by SVG lines,
// and a side panel that edits the selected node. The page gives the definition and the catalogues
// as JSON (#wf-config); saving POSTs the whole definition back. Plain DOM, pointer events for drag.
"use strict";

(function () {
  const root = document.querySelector("[data-workflow-builder]");
  const configNode = document.getElementById("wf-config");
  if (!root || !configNode) return;
  const config = JSON.parse(configNode.textContent);
  const S = JSON.parse(document.getElementById("wf-strings").textContent);
  const readonly = !config.can_edit;

  const NODE_W = 200;
  const NODE_H = 72;
  const GRID = 10;
  const TRIGGER = "trigger";
  const UNARY = new Set(config.operators.filter((o) => o.unary).map((o) => o.op));
  const LIST_OPS = new Set(["in", "not_in"]);

  const definition = normalise(config.definition || {});
  let etag = config.workflow.etag; // the workflow's concurrency token: a stale save gets 412
  let errors = config.errors || [];
  let selected = null;
  let dirty = false;
  let lastTemplateInput = null;

  const canvas = root.querySelector("[data-canvas]");
  const edges = root.querySelector("[data-edges]");
  const panel = root.querySelector("[data-panel]");
  const status = root.querySelector("[data-status]");
  const errorList = root.querySelector("[data-errors]");

  // -- model -------------------------------------------------------------------------------------------

  function normalise(def) {
    const out = JSON.parse(JSON.stringify(def));
    out.trigger = out.trigger || { type: "manual", record_type: "deal", params: {} };
    out.trigger.params = out.trigger.params || {};
    out.steps = out.steps || {};
    if (out.start === undefined) out.start = null;
    Object.values(out.steps).forEach((step, index) => {
      if (!step.ui) step.ui = { x: 40 + (index % 3) * 240, y: 160 + Math.floor(index / 3) * 130 };
    });
    if (!out.trigger.ui) {
      // No place saved for the trigger: above the first step, steps moved down to make room.
      const first = out.steps[out.start];
      out.trigger.ui = { x: first ? first.ui.x : 40, y: 20 };
      const top = Math.min(...Object.values(out.steps).map((st) => st.ui.y));
      const room = Math.ceil((20 + NODE_H + 50 - top) / GRID) * GRID;
      if (room > 0) Object.values(out.steps).forEach((st) => (st.ui = { x: st.ui.x, y: st.ui.y + room }));
    }
    return out;
  }

  function triggerPosition() {
    return definition.trigger.ui;
  }

  function positionOf(id) {
    return id === TRIGGER ? triggerPosition() : definition.steps[id].ui;
  }

  function exitsOf(id) {
    // [slot, target id] pairs: where a node's lines go.
    if (id === TRIGGER) return [["start", definition.start]];
    const step = definition.steps[id];
    if (step.type === "condition") return [["then", step.then], ["else", step.else]];
    if (step.type === "stop") return [];
    return [["next", step.next]];
  }

  function setExit(id, slot, target) {
    const value = target || null;
    if (id === TRIGGER) definition.start = value;
    else definition.steps[id][slot] = value;
  }

  function newId(type) {
    const prefix = { condition: "c", action: "a", wait: "w", stop: "s" }[type];
    let n = 1;
    while (definition.steps[prefix + n]) n += 1;
    return prefix + n;
  }

  function blankStep(type) {
    if (type === "condition") return { type, label: "", if: { all: [] }, then: null, else: null };
    if (type === "action") {
      const first = config.actions[0];
      return { type, label: "", action: first ? first.action : "", params: defaultsOf(first), next: null };
    }
    if (type === "wait") return { type, label: "", params: { duration: "P1D" }, next: null };
    return { type: "stop", label: "" };
  }

  function defaultsOf(spec) {
    const params = {};
    (spec ? spec.params : []).forEach((p) => {
      if (p.default !== undefined && p.default !== null) params[p.name] = p.default;
    });
    return params;
  }

  function addStep(type) {
    const id = newId(type);
    const step = blankStep(type);
    const anchor = selected ? positionOf(selected) : { x: 40, y: 30 };
    step.ui = freeSpot(anchor.x, anchor.y + NODE_H + 60);
    definition.steps[id] = step;
    if (selected) {
      const free = exitsOf(selected).find(([, target]) => !target);
      if (free) setExit(selected, free[0], id);
    } else if (!definition.start) {
      definition.start = id;
    }
    changed();
    select(id, true);
  }

  function freeSpot(x, y) {
    const taken = (px, py) =>
      [TRIGGER, ...Object.keys(definition.steps)].some((id) => {
        const p = positionOf(id);
        return Math.abs(p.x - px) < NODE_W && Math.abs(p.y - py) < NODE_H;
      });
    let nx = x;
    while (taken(nx, y)) nx += NODE_W + 40;
    return { x: nx, y };
  }

  function deleteStep(id) {
    if (id === TRIGGER || !definition.steps[id]) return;
    delete definition.steps[id];
    if (definition.start === id) definition.start = null;
    Object.values(definition.steps).forEach((step) => {
      ["next", "then", "else"].forEach((slot) => {
        if (step[slot] === id) step[slot] = null;
      });
    });
    selected = null;
    changed();
    renderPanel();
  }

  function changed() {
    dirty = true;
    setStatus(S.unsaved, "info");
    renderCanvas();
  }

  // -- labels ------------------------------------------------------------------------------------------

  function triggerSpec(type) {
    return config.triggers.find((t) => t.type === type);
  }

  function actionSpec(name) {
    return config.actions.find((a) => a.action === name);
  }

  function stepTitle(id) {
    if (id === TRIGGER) {
      const spec = triggerSpec(definition.trigger.type);
      return spec ? spec.label : definition.trigger.type;
    }
    const step = definition.steps[id];
    if (step.label) return step.label;
    if (step.type === "action") {
      const spec = actionSpec(step.action);
      return spec ? spec.label : step.action || S.types.action;
    }
    if (step.type === "wait") {
      return step.params && step.params.until ? S.wait_until : S.types.wait;
    }
    return S.types[step.type];
  }

  function stepSummary(id) {
    if (id === TRIGGER) {
      const rt = config.record_types.find((r) => r.name === definition.trigger.record_type);
      return rt && triggerNeedsRecord(definition.trigger.type) ? rt.label : "";
    }
    const step = definition.steps[id];
    if (step.type === "wait") {
      const p = step.params || {};
      return p.until ? String(p.until) : String(p.duration || "");
    }
    if (step.type === "condition") {
      const count = countLeaves(step.if || {});
      return S.n_conditions.replace("{count}", String(count));
    }
    if (step.type === "action" && step.label) {
      const spec = actionSpec(step.action);
      return spec ? spec.label : step.action;
    }
    return "";
  }

  function countLeaves(group) {
    const items = group.all || group.any || [];
    return items.reduce((n, item) => n + (item.all || item.any ? countLeaves(item) : 1), 0);
  }

  function triggerNeedsRecord(type) {
    const spec = triggerSpec(type);
    return spec ? spec.record_types.length > 0 : true;
  }

  function errorsOf(id) {
    return errors.filter((e) => (e.step || TRIGGER) === id || (id === TRIGGER && e.step === "trigger"));
  }

  // -- canvas ------------------------------------------------------------------------------------------

  function renderCanvas() {
    canvas.querySelectorAll(".wf-node").forEach((n) => n.remove());
    const ids = [TRIGGER, ...Object.keys(definition.steps)];
    let maxX = 0;
    let maxY = 0;
    ids.forEach((id) => {
      const node = buildNode(id);
      canvas.appendChild(node);
      const p = positionOf(id);
      maxX = Math.max(maxX, p.x + NODE_W);
      maxY = Math.max(maxY, p.y + NODE_H);
    });
    const width = maxX + 240;
    const height = maxY + 200;
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    edges.setAttribute("width", String(width));
    edges.setAttribute("height", String(height));
    renderEdges();
    renderErrors();
  }

  function buildNode(id) {
    const kind = id === TRIGGER ? "trigger" : definition.steps[id].type;
    const node = document.createElement("div");
    node.className = `wf-node wf-node-${kind}`;
    node.dataset.stepId = id;
    node.tabIndex = 0;
    node.setAttribute("role", "button");
    node.setAttribute("aria-pressed", String(selected === id));
    if (selected === id) node.classList.add("selected");
    const own = errorsOf(id);
    if (own.length) node.classList.add("invalid");
    const p = positionOf(id);
    node.style.left = p.x + "px";
    node.style.top = p.y + "px";

    const kindLabel = document.createElement("span");
    kindLabel.className = "wf-node-kind";
    kindLabel.textContent = id === TRIGGER ? S.types.trigger : S.types[kind];
    if (id !== TRIGGER) kindLabel.appendChild(el("span", { className: "wf-node-id", text: id }));
    const title = document.createElement("strong");
    title.className = "wf-node-title";
    title.textContent = stepTitle(id);
    node.append(kindLabel, title);
    const summary = stepSummary(id);
    if (summary) {
      const sub = document.createElement("span");
      sub.className = "wf-node-sub";
      sub.textContent = summary;
      node.appendChild(sub);
    }
    if (own.length) {
      const badge = document.createElement("span");
      badge.className = "wf-node-errors";
      badge.textContent = String(own.length);
      badge.title = own.map((e) => e.message).join("\n");
      node.appendChild(badge);
    }
    node.setAttribute(
      "aria-label",
      `${id === TRIGGER ? S.types.trigger : S.types[kind] + " " + id}: ${title.textContent}${own.length ? " — " + S.has_errors : ""}`
    );
    if (!readonly) attachDrag(node, id);
    else node.addEventListener("click", () => select(id));
    node.addEventListener("keydown", (event) => onNodeKey(event, id));
    return node;
  }

  function anchorOut(id, slot) {
    const p = positionOf(id);
    const dx = slot === "then" ? -NODE_W / 4 : slot === "else" ? NODE_W / 4 : 0;
    return { x: p.x + NODE_W / 2 + dx, y: p.y + NODE_H };
  }

  function anchorIn(id) {
    const p = positionOf(id);
    return { x: p.x + NODE_W / 2, y: p.y };
  }

  function renderEdges() {
    while (edges.lastChild && edges.lastChild.nodeName !== "defs") edges.removeChild(edges.lastChild);
    const ns = "http://www.w3.org/2000/svg";
    [TRIGGER, ...Object.keys(definition.steps)].forEach((id) => {
      exitsOf(id).forEach(([slot, target]) => {
        if (!target || !(target in definition.steps)) return;
        const a = anchorOut(id, slot);
        const b = anchorIn(target);
        const bend = Math.max(40, Math.abs(b.y - a.y) / 2);
        const path = document.createElementNS(ns, "path");
        path.setAttribute("d", `M${a.x},${a.y} C${a.x},${a.y + bend} ${b.x},${b.y - bend} ${b.x},${b.y - 6}`);
        path.setAttribute("class", `wf-edge wf-edge-${slot}`);
        path.setAttribute("marker-end", "url(#wf-arrow)");
        path.dataset.from = id;
        path.dataset.to = target;
        edges.appendChild(path);
        if (slot === "then" || slot === "else") {
          const label = document.createElementNS(ns, "text");
          label.setAttribute("x", String(a.x + (slot === "then" ? -6 : 6)));
          label.setAttribute("y", String(a.y + 16));
          label.setAttribute("text-anchor", slot === "then" ? "end" : "start");
          label.setAttribute("class", `wf-edge-label wf-edge-${slot}`);
          label.textContent = slot === "then" ? S.yes : S.no;
          edges.appendChild(label);
        }
      });
    });
  }

  function attachDrag(node, id) {
    let start = null;
    node.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      const p = positionOf(id);
      start = { x: event.clientX, y: event.clientY, left: p.x, top: p.y, moved: false };
      node.setPointerCapture(event.pointerId);
    });
    node.addEventListener("pointermove", (event) => {
      if (!start) return;
      const dx = event.clientX - start.x;
      const dy = event.clientY - start.y;
      if (!start.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      start.moved = true;
      node.classList.add("dragging");
      moveTo(id, start.left + dx, start.top + dy, node);
    });
    const finish = () => {
      if (!start) return;
      const wasMoved = start.moved;
      start = null;
      node.classList.remove("dragging");
      if (wasMoved) changed();
      select(id);
    };
    node.addEventListener("pointerup", finish);
    node.addEventListener("pointercancel", () => {
      start = null;
      node.classList.remove("dragging");
    });
  }

  function moveTo(id, x, y, node) {
    const nx = Math.max(0, Math.round(x / GRID) * GRID);
    const ny = Math.max(0, Math.round(y / GRID) * GRID);
    if (id === TRIGGER) definition.trigger.ui = { x: nx, y: ny };
    else definition.steps[id].ui = { x: nx, y: ny };
    const el = node || canvas.querySelector(`.wf-node[data-step-id="${id}"]`);
    el.style.left = nx + "px";
    el.style.top = ny + "px";
    renderEdges();
  }

  function onNodeKey(event, id) {
    const step = event.shiftKey ? GRID * 5 : GRID * 2;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      select(id, true);
    } else if (moves[event.key] && !readonly) {
      event.preventDefault();
      const p = positionOf(id);
      moveTo(id, p.x + moves[event.key][0], p.y + moves[event.key][1]);
      dirty = true;
      setStatus(S.unsaved, "info");
      if (selected !== id) select(id);
    } else if ((event.key === "Delete" || event.key === "Backspace") && !readonly && id !== TRIGGER) {
      event.preventDefault();
      if (window.confirm(S.confirm_delete)) deleteStep(id);
    }
  }

  function select(id, focusPanel) {
    selected = id;
    canvas.querySelectorAll(".wf-node").forEach((n) => {
      const on = n.dataset.stepId === id;
      n.classList.toggle("selected", on);
      n.setAttribute("aria-pressed", String(on));
    });
    renderPanel();
    if (focusPanel) {
      const first = panel.querySelector("input, select, textarea");
      if (first) first.focus();
    }
  }

  function focusNode(id) {
    const el = canvas.querySelector(`.wf-node[data-step-id="${id}"]`);
    if (el) {
      el.scrollIntoView({ block: "nearest", inline: "nearest" });
      el.focus();
    }
  }

  // -- errors ------------------------------------------------------------------------------------------

  function renderErrors() {
    errorList.replaceChildren();
    errorList.hidden = errors.length === 0;
    if (!errors.length) return;
    const heading = document.createElement("strong");
    heading.textContent = S.errors_heading;
    const list = document.createElement("ul");
    errors.forEach((err) => {
      const item = document.createElement("li");
      const link = document.createElement("button");
      link.type = "button";
      link.className = "btn btn-ghost btn-sm";
      const id = err.step && (err.step in definition.steps || err.step === TRIGGER) ? err.step : TRIGGER;
      link.textContent = id === TRIGGER ? S.types.trigger : `${S.types[definition.steps[id].type]} ${id}`;
      link.addEventListener("click", () => {
        select(id);
        focusNode(id);
      });
      const text = document.createElement("span");
      text.textContent = err.message;
      item.append(link, text);
      list.appendChild(item);
    });
    errorList.append(heading, list);
  }

  function setStatus(text, kind) {
    status.textContent = text;
    status.dataset.kind = kind || "";
  }

  // -- side panel: small builders ----------------------------------------------------------------------

  let fieldSeq = 0;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (v === undefined || v === null || v === false) return;
      if (k === "text") node.textContent = v;
      else if (k === "className") node.className = v;
      else node.setAttribute(k, v === true ? "" : v);
    });
    (children || []).forEach((c) => c && node.appendChild(c));
    return node;
  }

  function fieldErrorsFor(stepId, path) {
    return errors.filter(
      (e) => (e.step || TRIGGER) === stepId && e.field && (e.field === path || e.field.startsWith(path + "."))
    );
  }

  function wrapField(label, control, opts) {
    const o = opts || {};
    const field = el("div", { className: "field" + (o.full ? " full" : "") });
    if (control.id === "" || !control.id) control.id = `wf-f-${++fieldSeq}`;
    field.appendChild(el("label", { for: control.id, text: label }));
    field.appendChild(control);
    if (o.help) field.appendChild(el("span", { className: "help", text: o.help }));
    const errs = o.path ? fieldErrorsFor(o.stepId, o.path) : [];
    if (errs.length) {
      field.classList.add("has-error");
      errs.forEach((e) =>
        field.appendChild(el("span", { className: "field-error", "data-error-for": o.path, text: e.message }))
      );
    }
    if (o.path) control.dataset.path = o.path;
    return field;
  }

  function input(value, onChange, attrs) {
    const node = el("input", Object.assign({ type: "text" }, attrs || {}));
    node.value = value === undefined || value === null ? "" : String(value);
    node.disabled = readonly;
    node.addEventListener("input", () => onChange(node.value));
    node.addEventListener("change", () => renderCanvas());
    return node;
  }

  function textarea(value, onChange, attrs) {
    const node = el("textarea", Object.assign({ rows: "4" }, attrs || {}));
    node.value = value === undefined || value === null ? "" : String(value);
    node.disabled = readonly;
    node.addEventListener("input", () => onChange(node.value));
    return node;
  }

  function select_(options, value, onChange, attrs) {
    const node = el("select", attrs || {});
    options.forEach((opt) => {
      if (opt.group) {
        const group = el("optgroup", { label: opt.group });
        opt.options.forEach((o) => group.appendChild(option(o, value)));
        node.appendChild(group);
      } else {
        node.appendChild(option(opt, value));
      }
    });
    node.disabled = readonly;
    node.addEventListener("change", () => onChange(node.value));
    return node;
  }

  function option(opt, value) {
    const o = el("option", { value: String(opt.value), text: opt.label });
    if (String(opt.value) === String(value === undefined || value === null ? "" : value)) o.selected = true;
    return o;
  }

  function rememberTemplateInput(node) {
    node.addEventListener("focus", () => {
      lastTemplateInput = node;
    });
    return node;
  }

  function edit(fn) {
    // A change from the panel: mark unsaved and refresh the node, not the panel (keeps focus).
    return (value) => {
      fn(value);
      dirty = true;
      setStatus(S.unsaved, "info");
      const node = canvas.querySelector(`.wf-node[data-step-id="${selected}"] .wf-node-title`);
      if (node) node.textContent = stepTitle(selected);
    };
  }

  // -- side panel --------------------------------------------------------------------------------------

  function renderPanel() {
    panel.replaceChildren();
    fieldSeq = 0;
    if (!selected || (selected !== TRIGGER && !definition.steps[selected])) {
      panel.appendChild(el("p", { className: "muted", text: S.select_hint }));
      return;
    }
    const id = selected;
    const kind = id === TRIGGER ? "trigger" : definition.steps[id].type;
    const header = el("div", { className: "wf-panel-header" }, [
      el("h2", { text: id === TRIGGER ? S.types.trigger : `${S.types[kind]} · ${id}` }),
    ]);
    panel.appendChild(header);
    const form = el("div", { className: "form stack-sm" });
    panel.appendChild(form);
    if (id === TRIGGER) renderTriggerPanel(form);
    else {
      const step = definition.steps[id];
      form.appendChild(
        wrapField(S.label, input(step.label, edit((v) => (step.label = v))), { stepId: id, path: "label" })
      );
      if (kind === "condition") renderConditionPanel(form, id, step);
      if (kind === "action") renderActionPanel(form, id, step);
      if (kind === "wait") renderWaitPanel(form, id, step);
    }
    renderConnections(form, id);
    // errors without an input of their own in the panel go on top of it
    const loose = errorsOf(id).filter((e) => !e.field || !panelHasPath(e.field));
    if (loose.length) {
      const box = el("div", { className: "flash flash-error", role: "alert" });
      box.appendChild(el("span", { text: loose.map((e) => e.message).join(" · ") }));
      panel.insertBefore(box, form);
    }
    if (id !== TRIGGER && !readonly) {
      const remove = el("button", { type: "button", className: "btn btn-danger btn-sm", text: S.delete_step });
      remove.addEventListener("click", () => {
        if (window.confirm(S.confirm_delete)) deleteStep(id);
      });
      panel.appendChild(el("div", { className: "form-actions" }, [remove]));
    }
  }

  function panelHasPath(path) {
    return Array.from(panel.querySelectorAll("[data-path]")).some(
      (n) => path === n.dataset.path || path.startsWith(n.dataset.path + ".")
    );
  }

  function stepOptions(exclude) {
    const opts = [{ value: "", label: S.end_of_run }];
    Object.keys(definition.steps).forEach((sid) => {
      if (sid !== exclude) opts.push({ value: sid, label: `${sid} · ${stepTitle(sid)}` });
    });
    return opts;
  }

  function renderConnections(form, id) {
    const exits = exitsOf(id);
    if (!exits.length) return;
    const box = el("fieldset", { className: "wf-connections" }, [el("legend", { text: S.connections })]);
    const labels = { start: S.first_step, next: S.next_step, then: S.then_step, else: S.else_step };
    exits.forEach(([slot, target]) => {
      const control = select_(stepOptions(id), target || "", (value) => {
        setExit(id, slot, value);
        changed();
      });
      control.dataset.slot = slot;
      box.appendChild(wrapField(labels[slot], control, { stepId: id, path: slot }));
    });
    form.appendChild(box);
  }

  function renderTriggerPanel(form) {
    const trigger = definition.trigger;
    const typeOptions = config.triggers.map((t) => ({ value: t.type, label: t.label }));
    form.appendChild(
      wrapField(
        S.trigger_type,
        select_(typeOptions, trigger.type, (value) => {
          trigger.type = value;
          const spec = triggerSpec(value);
          trigger.params = defaultsOf(spec);
          if (spec && spec.record_types.length && !spec.record_types.includes(trigger.record_type)) {
            trigger.record_type = spec.record_types[0];
          }
          changed();
          renderPanel();
        }),
        { stepId: TRIGGER, path: "type" }
      )
    );
    const spec = triggerSpec(trigger.type);
    if (spec && spec.help) form.appendChild(el("p", { className: "muted small", text: spec.help }));
    if (spec && spec.record_types.length) {
      const rtOptions = config.record_types
        .filter((r) => spec.record_types.includes(r.name))
        .map((r) => ({ value: r.name, label: r.label }));
      form.appendChild(
        wrapField(
          S.record_type,
          select_(rtOptions, trigger.record_type, (value) => {
            trigger.record_type = value;
            changed();
            renderPanel();
          }),
          { stepId: TRIGGER, path: "record_type" }
        )
      );
    }
    renderParams(form, TRIGGER, spec ? spec.params : [], trigger.params, "params", trigger.record_type);
  }

  function renderActionPanel(form, id, step) {
    const options = config.actions.map((a) => ({ value: a.action, label: a.label }));
    form.appendChild(
      wrapField(
        S.action,
        select_(options, step.action, (value) => {
          step.action = value;
          step.params = defaultsOf(actionSpec(value));
          changed();
          renderPanel();
        }),
        { stepId: id, path: "action" }
      )
    );
    const spec = actionSpec(step.action);
    if (spec && spec.help) form.appendChild(el("p", { className: "muted small", text: spec.help }));
    step.params = step.params || {};
    renderParams(form, id, spec ? spec.params : [], step.params, "params", definition.trigger.record_type);
    if (spec && spec.params.some((p) => p.template)) form.appendChild(variableHints());
  }

  function renderWaitPanel(form, id, step) {
    step.params = step.params || {};
    const mode = step.params.until !== undefined ? "until" : "duration";
    form.appendChild(
      wrapField(
        S.wait_mode,
        select_(
          [
            { value: "duration", label: S.wait_for },
            { value: "until", label: S.wait_until },
          ],
          mode,
          (value) => {
            step.params = value === "until" ? { until: "" } : { duration: "P1D" };
            changed();
            renderPanel();
          }
        )
      )
    );
    if (mode === "duration") {
      form.appendChild(
        wrapField(S.duration, input(step.params.duration, edit((v) => (step.params.duration = v))), {
          stepId: id,
          path: "params.duration",
          help: S.duration_help,
        })
      );
    } else {
      const control = rememberTemplateInput(input(step.params.until, edit((v) => (step.params.until = v))));
      form.appendChild(
        wrapField(S.until, control, { stepId: id, path: "params.until", help: S.until_help })
      );
      form.appendChild(variableHints());
    }
  }

  // -- params from a catalogue spec --------------------------------------------------------------------

  function choicesOf(spec, recordType) {
    if (spec.options) return spec.options;
    if (spec.choices) return config.choices[spec.choices] || [];
    if (spec.kind === "field") return fieldOptions(recordType, false);
    return [];
  }

  function renderParams(form, stepId, specs, params, prefix, recordType) {
    specs.forEach((spec) => {
      if (spec.show_if && !Object.entries(spec.show_if).every(([k, v]) => [].concat(v).includes(params[k]))) {
        return;
      }
      const path = `${prefix}.${spec.name}`;
      const opts = { stepId, path, help: spec.help, full: spec.kind === "textarea" || spec.kind === "json" };
      const label = spec.label + (spec.required ? " *" : "");
      const set = edit((v) => {
        if (v === "" || v === null || v === undefined) delete params[spec.name];
        else params[spec.name] = v;
      });
      let control;
      if (spec.kind === "fields_map") {
        form.appendChild(fieldsMap(stepId, path, spec, params, recordType));
        return;
      }
      if (spec.kind === "select" || spec.kind === "field") {
        const options = [{ value: "", label: "—" }].concat(choicesOf(spec, recordType));
        control = select_(options, params[spec.name], (v) => {
          set(spec.numeric && v !== "" ? Number(v) : v);
          if (specs.some((s) => s.show_if)) renderPanel();
        });
      } else if (spec.kind === "assignee") {
        control = assignee(params[spec.name], set);
      } else if (spec.kind === "number") {
        control = input(params[spec.name], (v) => set(v === "" ? "" : Number(v)), { type: "number", step: "any" });
      } else if (spec.kind === "checkbox") {
        control = el("input", { type: "checkbox" });
        control.checked = Boolean(params[spec.name]);
        control.disabled = readonly;
        control.addEventListener("change", () => set(control.checked));
      } else if (spec.kind === "json") {
        const raw = params[spec.name] === undefined ? "" : JSON.stringify(params[spec.name], null, 2);
        control = textarea(raw, (v) => {
          try {
            set(v.trim() === "" ? "" : JSON.parse(v));
            control.setCustomValidity("");
          } catch (err) {
            control.setCustomValidity(S.invalid_json);
          }
          control.reportValidity();
        });
      } else if (spec.kind === "textarea") {
        control = rememberTemplateInput(textarea(params[spec.name], set));
      } else {
        control = input(params[spec.name], set);
        if (spec.template) rememberTemplateInput(control);
        if (spec.suggest) {
          const listId = `wf-list-${stepId}-${spec.name}`;
          control.setAttribute("list", listId);
          const datalist = el("datalist", { id: listId });
          spec.suggest.forEach((s) => datalist.appendChild(el("option", { value: s.value, label: s.label })));
          form.appendChild(datalist);
        }
      }
      control.dataset.param = spec.name;
      form.appendChild(wrapField(label, control, opts));
    });
  }

  function assignee(value, set) {
    const options = [
      { value: "owner", label: S.assignee_owner },
      { value: "manager", label: S.assignee_manager },
      { group: S.assignee_user, options: (config.choices.users || []).map((u) => ({ value: `user:${u.value}`, label: u.label })) },
    ];
    const current = value && typeof value === "object" ? `user:${value.user_id}` : value || "owner";
    return select_(options, current, (v) => set(v.startsWith("user:") ? { user_id: Number(v.slice(5)) } : v));
  }

  function fieldsMap(stepId, path, spec, params, recordType) {
    const box = el("fieldset", { className: "wf-fields-map" }, [el("legend", { text: spec.label })]);
    box.dataset.path = path;
    const map = params[spec.name] && typeof params[spec.name] === "object" ? params[spec.name] : {};
    params[spec.name] = map;
    const fields = fieldOptions(recordType, false);
    Object.keys(map).forEach((name) => {
      const row = el("div", { className: "wf-row" });
      const picker = select_(fields, name, (v) => {
        if (!v || v === name) return;
        map[v] = map[name];
        delete map[name];
        dirty = true;
        renderPanel();
      }, { "aria-label": S.field });
      const value = rememberTemplateInput(
        input(map[name], edit((v) => (map[name] = v)), { "aria-label": S.value })
      );
      const remove = el("button", { type: "button", className: "btn btn-ghost btn-sm btn-icon", "aria-label": S.remove, text: "×" });
      remove.disabled = readonly;
      remove.addEventListener("click", () => {
        delete map[name];
        changed();
        renderPanel();
      });
      row.append(picker, value, remove);
      box.appendChild(row);
      fieldErrorsFor(stepId, `${path}.${name}`).forEach((e) =>
        box.appendChild(el("span", { className: "field-error", text: e.message }))
      );
    });
    const add = el("button", { type: "button", className: "btn btn-sm", text: S.add_field });
    add.disabled = readonly;
    add.addEventListener("click", () => {
      const free = fields.flatMap((f) => f.options || [f]).find((f) => f.value && !(f.value in map));
      if (free) {
        map[free.value] = "";
        changed();
        renderPanel();
      }
    });
    box.appendChild(add);
    fieldErrorsFor(stepId, path)
      .filter((e) => e.field === path)
      .forEach((e) => box.appendChild(el("span", { className: "field-error", text: e.message })));
    return box;
  }

  function variableHints() {
    const box = el("div", { className: "wf-variables" }, [
      el("span", { className: "muted small", text: S.variables_hint }),
    ]);
    const list = el("div", { className: "row" });
    (config.variables[definition.trigger.record_type] || config.variables._common || []).forEach((name) => {
      const chip = el("button", { type: "button", className: "wf-var", text: `{{ ${name} }}` });
      chip.disabled = readonly;
      chip.addEventListener("mousedown", (event) => event.preventDefault()); // keep the input focused
      chip.addEventListener("click", () => insertVariable(`{{ ${name} }}`));
      list.appendChild(chip);
    });
    box.appendChild(list);
    return box;
  }

  function insertVariable(text) {
    const target = lastTemplateInput && panel.contains(lastTemplateInput) ? lastTemplateInput : null;
    if (!target) {
      setStatus(S.pick_input_first, "info");
      return;
    }
    const start = target.selectionStart ?? target.value.length;
    const end = target.selectionEnd ?? target.value.length;
    target.value = target.value.slice(0, start) + text + target.value.slice(end);
    target.dispatchEvent(new Event("input"));
    target.focus();
    target.setSelectionRange(start + text.length, start + text.length);
  }

  // -- conditions --------------------------------------------------------------------------------------

  function fieldOptions(recordType, withChanges) {
    const fields = config.fields[recordType] || [];
    const plain = fields.filter((f) => !f.custom).map((f) => ({ value: f.name, label: f.label }));
    const custom = fields.filter((f) => f.custom).map((f) => ({ value: f.name, label: f.label }));
    const out = [{ value: "", label: "—" }, { group: S.fields, options: plain }];
    if (custom.length) out.push({ group: S.custom_fields, options: custom });
    if (withChanges) {
      out.push({
        group: S.changes,
        options: fields.map((f) => ({ value: `changes.${f.name}`, label: `${S.change_of} ${f.label}` })),
      });
    }
    return out;
  }

  function fieldInfo(recordType, name) {
    const bare = name && name.startsWith("changes.") ? name.slice(8) : name;
    return (config.fields[recordType] || []).find((f) => f.name === bare);
  }

  function renderConditionPanel(form, id, step) {
    step.if = step.if && (step.if.all || step.if.any) ? step.if : { all: [] };
    const box = el("div", { className: "wf-conditions" });
    box.dataset.path = "if";
    box.appendChild(renderGroup(id, step.if, "if", null));
    form.appendChild(box);
  }

  function renderGroup(stepId, group, path, parentItems) {
    const mode = group.any ? "any" : "all";
    const items = group[mode];
    const box = el("fieldset", { className: `wf-group wf-group-${mode}` });
    const modeSelect = select_(
      [
        { value: "all", label: S.all_of },
        { value: "any", label: S.any_of },
      ],
      mode,
      (value) => {
        if (value === mode) return;
        group[value] = group[mode];
        delete group[mode];
        changed();
        renderPanel();
      },
      { "aria-label": S.group_mode }
    );
    const legend = el("legend", {}, [modeSelect]);
    box.appendChild(legend);
    items.forEach((item, index) => {
      const itemPath = `${path}.${mode}.${index}`;
      if (item.all || item.any) box.appendChild(renderGroup(stepId, item, itemPath, items));
      else box.appendChild(renderLeaf(stepId, item, itemPath, items));
    });
    fieldErrorsFor(stepId, path)
      .filter((e) => e.field === path || e.field === `${path}.${mode}`)
      .forEach((e) => box.appendChild(el("span", { className: "field-error", text: e.message })));
    const actions = el("div", { className: "row" });
    const addLeaf = el("button", { type: "button", className: "btn btn-sm", text: S.add_condition });
    addLeaf.addEventListener("click", () => {
      items.push({ field: "", op: "eq", value: "" });
      changed();
      renderPanel();
    });
    const addGroup = el("button", { type: "button", className: "btn btn-sm", text: S.add_group });
    addGroup.addEventListener("click", () => {
      items.push({ any: [{ field: "", op: "eq", value: "" }] });
      changed();
      renderPanel();
    });
    actions.append(addLeaf, addGroup);
    if (parentItems) {
      const remove = el("button", { type: "button", className: "btn btn-ghost btn-sm", text: S.remove_group });
      remove.addEventListener("click", () => {
        parentItems.splice(parentItems.indexOf(group), 1);
        changed();
        renderPanel();
      });
      actions.appendChild(remove);
    }
    actions.querySelectorAll("button").forEach((b) => (b.disabled = readonly));
    box.appendChild(actions);
    return box;
  }

  function renderLeaf(stepId, leaf, path, parentItems) {
    const recordType = definition.trigger.record_type;
    const row = el("div", { className: "wf-leaf" });
    row.dataset.path = path;
    const fieldSelect = select_(
      fieldOptions(recordType, true),
      leaf.field,
      edit((v) => {
        leaf.field = v;
        renderPanel();
      }),
      { "aria-label": S.field }
    );
    const ops = config.operators.map((o) => ({ value: o.op, label: o.label }));
    const opSelect = select_(
      ops,
      leaf.op,
      edit((v) => {
        leaf.op = v;
        if (UNARY.has(v)) delete leaf.value;
        else if (LIST_OPS.has(v) && !Array.isArray(leaf.value)) leaf.value = leaf.value ? [String(leaf.value)] : [];
        else if (!LIST_OPS.has(v) && Array.isArray(leaf.value)) leaf.value = leaf.value.join(", ");
        renderPanel();
      }),
      { "aria-label": S.operator }
    );
    row.append(fieldSelect, opSelect);
    if (!UNARY.has(leaf.op)) {
      const list = LIST_OPS.has(leaf.op);
      const shown = Array.isArray(leaf.value) ? leaf.value.join(", ") : leaf.value;
      const value = input(
        shown,
        edit((v) => {
          leaf.value = list ? v.split(",").map((s) => s.trim()).filter(Boolean) : v;
        }),
        { "aria-label": S.value, placeholder: list ? S.list_placeholder : "" }
      );
      const info = fieldInfo(recordType, leaf.field);
      if (info && info.options && info.options.length) {
        const listId = `wf-opts-${path.replace(/\./g, "-")}`;
        value.setAttribute("list", listId);
        const datalist = el("datalist", { id: listId });
        info.options.forEach((o) => datalist.appendChild(el("option", { value: o.value, label: o.label })));
        row.appendChild(datalist);
      }
      if (info && (info.type === "number" || info.type === "money")) value.inputMode = "decimal";
      row.appendChild(value);
    }
    const remove = el("button", { type: "button", className: "btn btn-ghost btn-sm btn-icon", "aria-label": S.remove, text: "×" });
    remove.disabled = readonly;
    remove.addEventListener("click", () => {
      parentItems.splice(parentItems.indexOf(leaf), 1);
      changed();
      renderPanel();
    });
    row.appendChild(remove);
    const errs = fieldErrorsFor(stepId, path);
    const controls = { field: fieldSelect, op: opSelect, value: row.querySelector("input") };
    errs.forEach((e) => {
      const control = controls[e.field.slice(path.length + 1)] || fieldSelect;
      control.classList.add("invalid");
      control.setAttribute("aria-invalid", "true");
      row.appendChild(el("span", { className: "field-error", "data-error-for": e.field, text: e.message }));
    });
    return row;
  }

  // -- saving ------------------------------------------------------------------------------------------

  function payload() {
    return { definition: definition, expected_version: etag };
  }

  async function save() {
    setStatus(S.saving, "info");
    let response;
    try {
      response = await fetch(config.save_url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": config.csrf },
        body: JSON.stringify(payload()),
      });
    } catch (err) {
      setStatus(S.network_error, "error");
      return false;
    }
    const body = await response.json().catch(() => ({}));
    errors = body.errors || [];
    if (response.ok) {
      etag = body.etag;
      dirty = false;
      document.querySelectorAll("[data-version]").forEach((n) => (n.textContent = String(body.version)));
      setStatus(errors.length ? S.saved_with_errors : S.saved, errors.length ? "error" : "success");
    } else {
      setStatus(body.message || S.save_failed, "error");
    }
    renderCanvas();
    renderPanel();
    return response.ok;
  }

  // -- wiring ------------------------------------------------------------------------------------------

  root.querySelectorAll("[data-add-step]").forEach((button) => {
    button.addEventListener("click", () => addStep(button.dataset.addStep));
  });
  const saveButton = root.querySelector("[data-save]");
  if (saveButton) saveButton.addEventListener("click", () => save());
  // Enabling saves pending edits first, so what is enabled is what the user sees.
  root.querySelectorAll("form[data-save-first]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      if (!dirty) return;
      event.preventDefault();
      if (await save()) form.submit();
    });
  });
  window.addEventListener("beforeunload", (event) => {
    if (dirty) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  // Escape in the side panel goes back to the node on the canvas.
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && selected) {
      event.preventDefault();
      focusNode(selected);
    }
  });
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "s" && !readonly) {
      event.preventDefault();
      save();
    }
  });

  renderCanvas();
  const initial = errors.length ? errors[0].step || TRIGGER : TRIGGER;
  select(initial in definition.steps || initial === TRIGGER ? initial : TRIGGER);
})();
