"""Template variables: `{{ deal.amount }}`, `{{ owner.email }}`... rendered in Jinja2's sandbox with
StrictUndefined. Which variables exist is known from the trigger alone, so an unknown one is a
field error when saving; at run time every known variable is present (empty when the related
record is missing), so rendering never fails on a name."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from carnet.workflows import catalogue

# Records reachable from a trigger record, by the name templates use.
RELATED = {
    "organisation": (),
    "contact": ("organisation",),
    "deal": ("organisation", "contact"),
    "task": ("organisation", "contact", "deal"),
    "activity": ("organisation", "contact", "deal"),
}
DIGEST_FIELDS = ("open_deals", "open_amount", "won_deals_7_days", "won_amount_7_days", "stale_deals")
TRIGGER_FIELDS = ("type", "event_id", "changes", "payload", "record_type", "record_id")
RECIPIENT_FIELDS = catalogue.USER_FIELDS


def _finalize(value: Any) -> Any:
    return "" if value is None else value


ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, finalize=_finalize)


class TemplateProblem(Exception):
    """A template that cannot be parsed or rendered."""


def allowed_roots(trigger: dict[str, Any], field_sets: dict[str, set[str]]) -> dict[str, set[str] | None]:
    """{root variable: allowed first-level attributes, or None when any attribute is allowed}.
    `field_sets` gives each record type's fields (native + `cf` + `tags`)."""
    ttype = trigger.get("type")
    record_type = trigger.get("record_type")
    roots: dict[str, set[str] | None] = {
        "now": None,  # a datetime: now.year, now.isoformat()...
        "trigger": set(TRIGGER_FIELDS),
        "owner": set(catalogue.USER_FIELDS),
        "manager": set(catalogue.USER_FIELDS),
        "recipient": set(RECIPIENT_FIELDS),
    }
    if record_type in catalogue.RECORD_KINDS:
        roots[record_type] = field_sets.get(record_type, set())
        roots["record"] = field_sets.get(record_type, set())
        for related in RELATED.get(record_type, ()):
            roots[related] = field_sets.get(related, set())
    if ttype == "webhook":
        roots["webhook"] = None
    if ttype == "schedule":
        roots["digest"] = set(DIGEST_FIELDS)
    return roots


def parse(source: str) -> nodes.Template:
    try:
        return ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(exc.message or "syntax error")


def _chain(node: nodes.Node) -> list[str] | None:
    """`deal.owner.email` → ["deal", "owner", "email"]; None when not a plain variable path."""
    if isinstance(node, nodes.Name):
        return [node.name]
    if isinstance(node, nodes.Getattr):
        inner = _chain(node.node)
        return None if inner is None else [*inner, node.attr]
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        inner = _chain(node.node)
        return None if inner is None else [*inner, node.arg.value]
    return None


def variable_paths(source: str) -> list[list[str]]:
    """Every variable path a template reads from its context (loop and `set` names excluded)."""
    tree = parse(source)
    undeclared = meta.find_undeclared_variables(tree)
    found: list[list[str]] = []

    def visit(node: nodes.Node) -> None:
        chain = _chain(node) if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem) else None
        if chain is not None and isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
            if chain[0] in undeclared:
                found.append(chain)
            return
        for child in node.iter_child_nodes():
            visit(child)

    visit(tree)
    return found


def unknown_variables(source: str, roots: dict[str, set[str] | None]) -> list[str]:
    """The dotted names in `source` that the context will not have."""
    bad = []
    for path in variable_paths(source):
        root = path[0]
        if root not in roots:
            bad.append(".".join(path))
            continue
        allowed = roots[root]
        if allowed is None or len(path) == 1:
            continue
        if path[1] not in allowed:
            bad.append(".".join(path[:2]))
    return bad


TEMPLATE_CACHE_SIZE = 4096  # distinct template texts kept compiled (a version's templates never change)


@lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def _compiled(source: str) -> Template:
    """Parse and compile a template text once per process, not once per step run."""
    return ENV.from_string(source)


@lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def template_roots(source: str) -> frozenset[str]:
    """The root variable names a template text reads (`deal`, `owner`...): a run loads only these."""
    if "{" not in source:
        return frozenset()
    return frozenset(path[0] for path in variable_paths(source))


def roots_in(value: Any) -> frozenset[str]:
    """The root names read by every template string inside a value (params, lists, dicts)."""
    names: set[str] = set()
    for text in strings_in(value):
        try:
            names |= template_roots(text)
        except TemplateProblem:
            continue  # reported when it is rendered
    return frozenset(names)


def render(source: Any, context: Mapping[str, Any]) -> Any:
    """Render a string template, or every string inside a list/dict; other values pass through.
    `context` may be lazy: only the names a template reads are looked up."""
    if isinstance(source, str):
        if "{" not in source:
            return source
        try:
            template = _compiled(source)
            scope = {name: context[name] for name in template_roots(source) if name in context}
            return template.render(scope)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(f"Template error: {exc.message}")
        except TemplateProblem:
            raise
        except Exception as exc:  # sandbox refusals, undefined values: reported on the step
            raise TemplateProblem(f"Template error: {exc}")
    if isinstance(source, dict):
        return {k: render(v, context) for k, v in source.items()}
    if isinstance(source, list):
        return [render(v, context) for v in source]
    return source


def strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return []
