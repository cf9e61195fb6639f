"""The client a quote or an invoice is addressed to: its organisation, contact and deal, checked
the same way for both (ids the writer may see; a deal brings its organisation when none is set)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from carnet.contacts import service as contacts
from carnet.core import inputs
from carnet.core.context import Actor
from carnet.core.errors import FieldErrors, NotFound
from carnet.deals import service as deals
from carnet.organisations import service as organisations


def clean_links(
    db: Session, actor: Actor, document: Any, data: dict[str, Any], errors: FieldErrors
) -> dict[str, Any]:
    """The `organisation_id`, `contact_id` and `deal_id` of `data` for `document` (a quote or an
    invoice, whose current values need no new check); field errors go to `errors`."""
    out: dict[str, Any] = {}
    if "organisation_id" in data:
        org_id = inputs.record_id(data["organisation_id"], "organisation_id", errors)
        if org_id is not None and org_id != document.organisation_id:
            organisations.require_visible_id(db, actor, org_id, "organisation_id", errors)
        out["organisation_id"] = org_id
    if "contact_id" in data:
        contact_id = inputs.record_id(data["contact_id"], "contact_id", errors)
        if (
            contact_id is not None
            and contact_id != document.contact_id
            and not contacts.is_visible(db, actor, contact_id)
        ):
            errors.add("contact_id", "Unknown contact", "unknown")
        out["contact_id"] = contact_id
    if "deal_id" in data:
        deal_id = inputs.record_id(data["deal_id"], "deal_id", errors)
        if deal_id is not None and deal_id != document.deal_id:
            try:
                deal = deals.get_deal(db, actor, deal_id)
            except NotFound:
                errors.add("deal_id", "Unknown deal", "unknown")
            else:
                if (
                    "organisation_id" not in data
                    and document.organisation_id is None
                    and deal.organisation_id
                ):
                    out["organisation_id"] = deal.organisation_id
        out["deal_id"] = deal_id
    return out
