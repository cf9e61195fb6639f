"""What every record list page (organisations, contacts, deals) reads from its query string: the
filters, the sort and the chosen columns. The column picker sends one `col` per ticked box; the
page then carries them as one canonical `columns=a,b` parameter in its links and saved views."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams

from carnet.core.context import Actor
from carnet.settings_ui import service as saved_views

# Parameters of the page itself, never list filters.
PAGE_KEYS = ("columns", "col")


@dataclass
class ListQuery:
    params: dict[str, str]  # non-empty parameters, one value each, `columns` canonical
    columns: list[str]  # the columns to show, in the order asked for

    @property
    def filters(self) -> dict[str, str]:
        """What the list service parses: the parameters without the page's own."""
        return {k: v for k, v in self.params.items() if k not in PAGE_KEYS}


def list_query(
    query: QueryParams,
    available: list[tuple[str, str]],
    default: list[str],
    ignore: tuple[str, ...] = (),
) -> ListQuery:
    """`available` is the page's (key, English label) column list; unknown column keys are dropped.
    `ignore` names parameters of the page's own widgets (a search box feeding a picker...)."""
    known = {key for key, _label in available}
    ticked = query.getlist("col")
    wanted = ticked if ticked else query.get("columns", "").split(",")
    chosen = [key for key in dict.fromkeys(wanted) if key in known]  # in the order asked for
    params = {k: v for k, v in query.items() if v != "" and k not in PAGE_KEYS and k not in ignore}
    if chosen and chosen != default:
        params["columns"] = ",".join(chosen)
    return ListQuery(params, chosen or list(default))


def saved_views_context(db: Session, actor: Actor, record_type: str, query: ListQuery) -> dict[str, Any]:
    """What `settings_ui/_saved_views.html` needs: the user's views of this list and the current
    query in the form a saved view stores it, so the matching pill shows as active."""
    return {
        "saved_views": saved_views.list_saved_views(db, actor, record_type),
        "current_query": saved_views.clean_query(urlencode(query.params)),
        "current_columns": query.columns if "columns" in query.params else [],
    }
