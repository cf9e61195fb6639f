"""The client of an invoice: the snapshot frozen when it is issued, and what issuing asks of it.

A client in France (or in an overseas territory in Sirene, core/countries.py) is invoiced with its
SIREN (france.md §1.5). A client abroad is identified by its VAT number and its country, has no
SIREN, and its e-invoice is an international B2B one (invoices/facturx.py); its electronic
address (BT-49) is frozen here with the rest of it.

Decisions on VAT (documents/exemptions.py reads the category from each 0 % line's mention): which
mention applies stays the user's choice, since a foreign client may owe French VAT (services tied
to a building in France, goods that do not leave France...), so an invoice at French rates to a
foreign client is issued as it is. Issuing refuses only what cannot be right:
- an intra-EU supply (art. 262 ter I du CGI) is made to a business identified for VAT in another
  member state: the client is in the EU outside France, and its VAT number is printed;
- reverse charge makes the client liable for the VAT: its VAT number is on the invoice (france.md
  §1.2 item 7); a client in France is identified by its SIREN instead (EN 16931 BR-AE-02);
- both, and exports, print the seller's VAT number (§1.2 item 5; BR-AE-02, BR-IC-02, BR-G-02).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from carnet.contacts.models import Contact
from carnet.core import countries
from carnet.core.errors import FieldErrors
from carnet.documents import exemptions
from carnet.documents import lines as doc_lines
from carnet.invoices import facturx
from carnet.invoices.models import Invoice
from carnet.organisations.models import Organisation


def snapshot(db: Session, invoice: Invoice) -> dict[str, Any]:
    """The client as printed (read without visibility: the invoice itself is visible)."""
    org = db.get(Organisation, invoice.organisation_id) if invoice.organisation_id else None
    contact = db.get(Contact, invoice.contact_id) if invoice.contact_id else None
    if org is None:
        return {}
    address = [v for v in (org.address_line1, org.address_line2) if v]
    city = " ".join(v for v in (org.postal_code, org.city) if v)
    if city:
        address.append(city)
    buyer = {
        "organisation_id": org.id,
        "name": org.legal_name or org.name,
        "address_lines": address,
        "postal_code": org.postal_code,
        "city": org.city,
        "country": org.country or countries.DEFAULT,
        "siren": org.siren,
        "siret": org.siret,
        "vat_number": org.vat_number,
        "contact_name": f"{contact.first_name} {contact.last_name}".strip() if contact else None,
    }
    if not countries.uses_siren(buyer["country"]):
        # No PPF directory address abroad: the e-invoice names the client's VAT number or an
        # email address instead (BT-49, required by BR-FR-12).
        emails = list(org.emails or [])
        if contact is not None and contact.primary_email:
            emails.append(contact.primary_email)
        found = facturx.electronic_address(buyer["country"], org.vat_number, emails)
        if found is not None:
            buyer["einvoicing_address"], buyer["einvoicing_scheme"] = found
    return buyer


def check(lines: list[dict[str, Any]], company: Any, buyer: dict[str, Any], errors: FieldErrors) -> None:
    """What issuing an invoice of `lines` to `buyer` (its snapshot) requires; problems go to
    `errors` as field errors."""
    if countries.uses_siren(buyer.get("country")):
        if not buyer.get("siren"):
            # france.md §1.5: the client's SIREN is a mandatory mention (and BT-47 for B2B, BR-FR-11).
            errors.add(
                "organisation_id",
                "The client organisation needs a SIREN to be invoiced",
                "client_siren_required",
            )
    elif not buyer.get("einvoicing_address"):
        errors.add(
            "organisation_id",
            "A client abroad needs a VAT number or an email address: the e-invoice gives one as "
            "its electronic address",
            "client_address_required",
        )
    _check_exemptions(lines, company, buyer, errors)


def _check_exemptions(
    lines: list[dict[str, Any]], company: Any, buyer: dict[str, Any], errors: FieldErrors
) -> None:
    found: dict[str, int] = {}  # category -> position of its first line
    for i, data in enumerate(lines):
        line = doc_lines.line_from_dict(data)
        if line.kind == doc_lines.ITEM:
            found.setdefault(exemptions.category_of(line), i)
    country = buyer.get("country") or countries.DEFAULT
    intra_eu = exemptions.INTRA_EU in found
    if intra_eu and (not countries.in_eu(country) or countries.uses_siren(country)):
        errors.add(
            f"lines.{found[exemptions.INTRA_EU]}.vat_exemption_reason",
            "An intra-EU supply (art. 262 ter I du CGI) is only for a client in another EU country",
            "intra_eu_client_outside_eu",
        )
    elif not buyer.get("vat_number") and (
        intra_eu or (exemptions.REVERSE_CHARGE in found and not buyer.get("siren"))
    ):
        errors.add(
            "organisation_id",
            "The client needs its VAT number for an intra-EU supply or a reverse charge",
            "client_vat_required",
        )
    zero_rated = {exemptions.REVERSE_CHARGE, exemptions.INTRA_EU, exemptions.EXPORT}
    if found.keys() & zero_rated and not getattr(company, "vat_number", None):
        errors.add(
            "company",
            "Complete the company's VAT number before invoicing a reverse charge, an intra-EU supply "
            "or an export",
            "company_vat_required",
        )
