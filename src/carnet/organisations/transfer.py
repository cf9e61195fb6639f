"""Organisations in imports and exports: column aliases (including HubSpot and Pipedrive export
headers, in English and French), duplicate detection on SIRET then SIREN, and the export columns.
Every write goes through the organisations service."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from babel import Locale
from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret

from carnet.accounts import service as accounts
from carnet.core import exporting, importing, memo, tags
from carnet.core.context import Actor
from carnet.core.errors import DomainError, ValidationFailed, as_result
from carnet.core.importing import CellError, ImportField, choice, digits_padded, parse_int, split_list
from carnet.organisations import service
from carnet.organisations.models import ESTABLISHMENT_CATEGORIES, ESTABLISHMENT_STATUSES, Organisation
from carnet.organisations.schemas import OrganisationRead

# Import spellings of the health-establishment choices (codes, English and French names).
ESTABLISHMENT_CATEGORY_NAMES = {
    **{code: code for code in ESTABLISHMENT_CATEGORIES},
    "centre hospitalier universitaire": "chu",
    "centre hospitalier": "ch",
    "clinique": "clinic",
    "clinique privée": "clinic",
    "private clinic": "clinic",
    "autre": "other",
    "groupement hospitalier de territoire": "ght",
}
ESTABLISHMENT_STATUS_NAMES = {
    **{code: code for code in ESTABLISHMENT_STATUSES},
    "public": "public",
    "privé non lucratif": "private_non_profit",
    "espic": "private_non_profit",
    "privé à but non lucratif": "private_non_profit",
    "privé lucratif": "private_for_profit",
    "privé à but lucratif": "private_for_profit",
    "private non-profit": "private_non_profit",
    "private for-profit": "private_for_profit",
}
TYPES = {
    "prospect": "prospect",
    "lead": "prospect",
    "client": "client",
    "customer": "client",
    "partner": "partner",
    "partenaire": "partner",
    "supplier": "supplier",
    "vendor": "supplier",
    "fournisseur": "supplier",
    "former_client": "former_client",
    "former client": "former_client",
    "former customer": "former_client",
    "ancien client": "former_client",
}


@lru_cache
def _countries() -> dict[str, str]:
    names: dict[str, str] = {}
    for language in ("en", "fr"):
        for code, name in Locale(language).territories.items():
            if len(code) == 2 and code.isalpha():
                names[name] = code
    return names


def parse_country(text: str) -> str:
    """ "France", "FR", "Allemagne", "Germany" -> ISO 3166 code."""
    if len(text.strip()) == 2 and text.strip().isalpha():
        return text.strip().upper()
    try:
        return choice(_countries())(text)
    except CellError:
        raise CellError("Unknown country “{value}”", value=text)


FIELDS = (
    ImportField(
        "name",
        "Name",
        required=True,
        aliases=(
            "Company name",
            "Company",
            "Name",
            "Nom",
            "Nom de l'entreprise",
            "Nom de la société",
            "Entreprise",
            "Société",
            "Raison sociale",
            "Organisation",
            "Organization",
            "Organization - Name",
            "Organisation - Nom",
            "Account name",
        ),
    ),
    ImportField(
        "legal_name", "Legal name", aliases=("Nom légal", "Dénomination sociale", "Dénomination légale")
    ),
    ImportField(
        "siren",
        "SIREN",
        aliases=("SIREN", "Numéro SIREN", "SIREN number", "N° SIREN", "Organization - SIREN"),
        parse=digits_padded(9),
    ),
    ImportField(
        "siret",
        "SIRET",
        aliases=("SIRET", "Numéro SIRET", "SIRET number", "N° SIRET", "Organization - SIRET"),
        parse=digits_padded(14),
    ),
    ImportField(
        "vat_number",
        "VAT number",
        aliases=(
            "VAT",
            "VAT ID",
            "Tax ID",
            "Numéro de TVA",
            "TVA intracommunautaire",
            "N° TVA intracommunautaire",
        ),
    ),
    ImportField("naf_code", "NAF code", aliases=("NAF", "Code NAF", "APE", "Code APE", "Code NAF/APE")),
    ImportField("legal_form", "Legal form", aliases=("Forme juridique",)),
    ImportField(
        "headcount",
        "Headcount",
        aliases=(
            "Number of Employees",
            "Employees",
            "Nombre d'employés",
            "Effectif",
            "Organization - Number of employees",
            "Organisation - Nombre d'employés",
        ),
        parse=parse_int,
    ),
    ImportField(
        "website",
        "Website",
        aliases=(
            "Website URL",
            "Company Domain Name",
            "Domain",
            "Site web",
            "Site internet",
            "URL du site web",
            "Nom de domaine de l'entreprise",
            "Organization - Website",
            "Organisation - Site web",
        ),
    ),
    ImportField(
        "emails",
        "Emails",
        many=True,
        parse=split_list,
        aliases=("Email", "E-mail", "Adresse e-mail", "Email address", "Organization - Email"),
    ),
    ImportField(
        "phones",
        "Phone numbers",
        many=True,
        parse=split_list,
        aliases=(
            "Phone",
            "Phone Number",
            "Téléphone",
            "Numéro de téléphone",
            "Tél",
            "Mobile",
            "Organization - Phone",
            "Organisation - Téléphone",
        ),
    ),
    ImportField(
        "address_line1",
        "Address",
        aliases=(
            "Street Address",
            "Address",
            "Adresse",
            "Adresse postale",
            "Rue",
            "Organization - Address",
            "Organization - Street/road name",
            "Organisation - Adresse",
        ),
    ),
    ImportField(
        "address_line2", "Address line 2", aliases=("Street Address 2", "Address 2", "Complément d'adresse")
    ),
    ImportField(
        "postal_code",
        "Postal code",
        aliases=(
            "Postal Code",
            "Zip",
            "Zip Code",
            "Code postal",
            "CP",
            "Organization - ZIP/Postal code",
            "Organisation - Code postal",
        ),
    ),
    ImportField(
        "city",
        "City",
        aliases=(
            "City",
            "Ville",
            "Commune",
            "Organization - City/town/village/locality",
            "Organization - City",
            "Organisation - Ville",
        ),
    ),
    ImportField(
        "country",
        "Country",
        aliases=("Country/Region", "Pays", "Pays/région", "Organization - Country", "Organisation - Pays"),
        parse=parse_country,
    ),
    ImportField(
        "type",
        "Type",
        aliases=("Company type", "Type d'entreprise", "Type de société", "Catégorie"),
        parse=choice(TYPES),
    ),
    ImportField("source", "Source", aliases=("Original Source", "Source d'origine", "Lead source")),
    ImportField("description", "Description", aliases=("Notes", "About", "À propos")),
    ImportField(
        "tags",
        "Tags",
        many=True,
        parse=split_list,
        aliases=("Étiquettes", "Labels", "Organization - Labels", "Organisation - Étiquettes"),
    ),
    ImportField(
        "owner_email",
        "Owner (email)",
        aliases=("Owner email", "Company owner email", "E-mail du propriétaire"),
    ),
    ImportField(
        "finess",
        "FINESS (ET)",
        aliases=("FINESS", "N° FINESS", "Numéro FINESS", "FINESS ET", "FINESS géographique", "N° FINESS ET"),
    ),
    ImportField(
        "finess_ej",
        "FINESS (EJ)",
        aliases=("FINESS EJ", "N° FINESS EJ", "FINESS juridique", "FINESS entité juridique"),
    ),
    ImportField(
        "establishment_category",
        "Establishment category",
        aliases=("Catégorie d'établissement", "Type d'établissement"),
        parse=choice(ESTABLISHMENT_CATEGORY_NAMES),
    ),
    ImportField(
        "establishment_status",
        "Establishment status",
        aliases=("Statut de l'établissement", "Statut juridique de l'établissement"),
        parse=choice(ESTABLISHMENT_STATUS_NAMES),
    ),
)


def owner_ids(db: Session, items: list[dict[str, Any]]) -> dict[str, int]:
    """{lower-cased owner email: user id} for the `owner_email` values of a chunk, in one query."""
    emails = {str(d["owner_email"]).strip().lower() for d in items if d.get("owner_email")}
    return accounts.user_ids_by_email(db, emails) if emails else {}


def resolve_owner(data: dict[str, Any], owners: dict[str, int]) -> None:
    """Replace the row's `owner_email` by `owner_id`; ValidationFailed on the column when unknown."""
    email = data.pop("owner_email", None)
    if email:
        user_id = owners.get(email.strip().lower())
        if user_id is None:
            raise ValidationFailed.on("owner_email", "Unknown user", "unknown")
        data["owner_id"] = user_id


def prepare(db: Session, actor: Actor, items: list[dict[str, Any]]) -> list[importing.Prepared]:
    owners = owner_ids(db, items)
    out: list[importing.Prepared] = []
    for item in items:
        data = dict(item)
        postal_code = str(data.get("postal_code") or "").replace(" ", "")
        if data.get("country", "FR") == "FR" and postal_code.isdigit() and len(postal_code) == 4:
            data["postal_code"] = postal_code.zfill(5)  # a spreadsheet stored 01000 as the number 1000
        try:
            resolve_owner(data, owners)
        except DomainError as exc:
            out.append(as_result(exc))
            continue
        out.append(data)
    return out


def _compact(module: Any, value: Any) -> str | None:
    if not value:
        return None
    compact = module.compact(str(value))
    return compact if module.is_valid(compact) else None


def _numbers(data: dict[str, Any]) -> tuple[str | None, str | None]:
    """(SIRET, SIREN) of a row, valid ones only; a SIRET gives its SIREN."""
    siret = _compact(stdnum_siret, data.get("siret"))
    siren = _compact(stdnum_siren, data.get("siren")) or (siret[:9] if siret else None)
    return siret, siren


def match_values(data: dict[str, Any], keys: tuple[str, ...]) -> set[tuple[str, str]]:
    """Rows of one company (one SIREN) are written one after the other, whichever key matches."""
    _siret, siren = _numbers(data)
    return {("siren", siren)} if siren and keys else set()


def find_existing(
    db: Session, actor: Actor, items: list[dict[str, Any]], keys: tuple[str, ...]
) -> list[Organisation | None]:
    """For each row, a visible organisation with its SIRET; failing that, with its SIREN (an
    establishment row only matches a record that has no SIRET of its own). Two queries in all."""
    numbers = [_numbers(d) for d in items]
    visible = service.visible_clause(db, actor)
    by_siret: dict[str, Organisation] = {}
    by_siren: dict[str, list[Organisation]] = {}
    sirets = {siret for siret, _ in numbers if siret} if "siret" in keys else set()
    if sirets:
        for org in db.scalars(
            select(Organisation).where(Organisation.siret.in_(sirets), visible).order_by(Organisation.id)
        ):
            by_siret.setdefault(org.siret or "", org)
    sirens = {siren for _, siren in numbers if siren} if "siren" in keys else set()
    if sirens:
        # The company itself (no SIRET) first, then by id, as a single lookup orders them.
        for org in db.scalars(
            select(Organisation)
            .where(Organisation.siren.in_(sirens), visible)
            .order_by(Organisation.siret.is_(None).desc(), Organisation.id)
        ):
            by_siren.setdefault(org.siren or "", []).append(org)
    out: list[Organisation | None] = []
    for siret, siren in numbers:
        found = by_siret.get(siret) if siret else None
        if found is None and siren:
            candidates = by_siren.get(siren, [])
            if siret:
                candidates = [o for o in candidates if o.siret is None]
            found = candidates[0] if candidates else None
        out.append(found)
    return out


def create_many(db: Session, actor: Actor, items: list[dict[str, Any]]) -> list[Organisation | DomainError]:
    return service.create_organisations(db, actor, items)


def update_many(
    db: Session, actor: Actor, items: list[tuple[Organisation, dict[str, Any]]]
) -> list[importing.Updated | DomainError]:
    """An import adds to emails, phones and tags rather than replacing them."""
    current_tags = tags.tags_for(db, service.RECORD_TYPE, [org.id for org, _ in items])
    merged = []
    for org, data in items:
        data = dict(data)
        for key in ("emails", "phones"):
            if key in data:
                data[key] = list(getattr(org, key) or []) + list(data[key])
        if "tags" in data:
            data["tags"] = current_tags.get(org.id, []) + list(data["tags"])
        merged.append((org, data))
    return [
        r if isinstance(r, DomainError) else importing.Updated(r.obj, r.after != r.before, r.before)
        for r in service.update_organisations(db, actor, merged)
    ]


def restore(db: Session, actor: Actor, org: Organisation, previous: dict[str, Any]) -> Organisation:
    """Put back the values an import replaced (`Updated.previous`), custom fields it added included."""
    data = dict(previous)
    before = dict(previous.get("custom_fields") or {})
    data["custom_fields"] = {key: before.get(key) for key in {*before, *(org.custom_fields or {})}}
    return service.update_organisation(db, actor, org, data)


# -- other record types linking to an organisation (contacts, deals) --------------------------------


def parse_company_number(text: str) -> str:
    """A SIREN (9 digits) or a SIRET (14 digits); leading zeros a spreadsheet dropped come back."""
    compact = re.sub(r"[\s.\-\u00a0]", "", text)
    if not compact.isdigit() or len(compact) > 14:
        raise CellError("Enter a SIREN (9 digits) or a SIRET (14 digits)")
    return compact.zfill(9) if len(compact) <= 9 else compact.zfill(14)


NAME_ALIASES = (
    "Organization",
    "Organisation",
    "Organization - Name",
    "Organisation - Nom",
    "Company",
    "Company Name",
    "Associated Company",
    "Nom de l'entreprise",
    "Entreprise",
    "Entreprise associée",
    "Société",
)
NUMBER_ALIASES = (
    "SIREN",
    "SIRET",
    "Numéro SIREN",
    "Numéro SIRET",
    "Organization - SIREN",
    "Organization - SIRET",
)


def link_fields(name_aliases: tuple[str, ...] = ()) -> tuple[ImportField, ImportField]:
    """The two columns another record type offers to name its organisation: a name, matched
    exactly (ignoring case), and a SIREN/SIRET, which wins when a row has both."""
    return (
        ImportField("organisation", "Organisation", aliases=(*name_aliases, *NAME_ALIASES)),
        ImportField(
            "organisation_number",
            "Organisation SIREN/SIRET",
            aliases=NUMBER_ALIASES,
            parse=parse_company_number,
        ),
    )


def linked_organisation(db: Session, actor: Actor, data: dict[str, Any]) -> int | None:
    """Pop the `link_fields` values from an import row: the id of the visible organisation they
    name, None when the row names none; ValidationFailed on the column when it names none we
    know, or several."""
    number = data.pop("organisation_number", None)
    name = data.pop("organisation", None)
    if number:
        # Memoised: the rows of a chunk often name the same organisation.
        org_id = memo.cached(
            db,
            ("organisation_number", number),
            lambda: getattr(service.find_by_number(db, actor, number), "id", None),
        )
        if org_id is None:
            raise ValidationFailed.on("organisation_number", "Unknown organisation", "unknown")
        return org_id
    if not name:
        return None
    found = memo.cached(
        db, ("organisation_name", name), lambda: [o.id for o in service.find_by_name(db, actor, name)]
    )
    if not found:
        raise ValidationFailed.on("organisation", "Unknown organisation", "unknown")
    if len(found) > 1:
        raise ValidationFailed.on(
            "organisation",
            "Several organisations are named “{name}”: add a SIREN column to choose",
            "ambiguous",
            name=name,
        )
    return found[0]


IMPORTER = importing.register(
    importing.Importer(
        record_type=service.RECORD_TYPE,
        module="organisations",
        label="Organisations",
        fields=FIELDS,
        match_keys=("siret", "siren"),
        match_labels={"siret": "SIRET", "siren": "SIREN"},
        match_values=match_values,
        find_existing=find_existing,
        create_many=create_many,
        update_many=update_many,
        delete=lambda db, actor, org: service.delete_organisation(db, actor, org),
        get=service.get_organisation,
        restore=restore,
        prepare=prepare,
    )
)

EXPORTER = exporting.register(
    exporting.Exporter(
        record_type=service.RECORD_TYPE,
        module="organisations",
        list_page=service.list_organisations,
        reads=service.reads,
        columns=tuple(OrganisationRead.model_fields),
        default_sort="name",
    )
)
