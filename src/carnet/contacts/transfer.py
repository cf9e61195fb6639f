"""Contacts in imports and exports: column aliases (including HubSpot and Pipedrive export headers,
in English and French), the organisation found by its name or its SIREN/SIRET, duplicate
detection on email, and the export columns. Every write goes through the contacts service."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from carnet.contacts import service
from carnet.contacts.models import PROFESSION_LABELS, Contact
from carnet.contacts.schemas import ContactRead
from carnet.core import exporting, importing, memo, tags
from carnet.core.context import Actor
from carnet.core.errors import DomainError, FieldError, ValidationFailed, as_result
from carnet.core.importing import ImportField, choice, digits_padded, parse_bool, parse_date, split_list
from carnet.organisations import transfer as org_transfer

# Import spellings of the professions: codes, English labels and the French names.
PROFESSION_NAMES = {
    **{code: code for code in PROFESSION_LABELS},
    **{label: code for code, label in PROFESSION_LABELS.items()},
    "médecin": "physician",
    "pharmacien": "pharmacist",
    "infirmier": "nurse",
    "infirmière": "nurse",
    "sage-femme": "midwife",
    "chirurgien-dentiste": "dentist",
    "masseur-kinésithérapeute": "physiotherapist",
    "kinésithérapeute": "physiotherapist",
    "ingénieur biomédical": "biomedical_engineer",
    "cadre de santé": "healthcare_manager",
    "autre": "other",
}

CONSENT = {
    "granted": "granted",
    "yes": "granted",
    "oui": "granted",
    "true": "granted",
    "1": "granted",
    "opt-in": "granted",
    "opted in": "granted",
    "subscribed": "granted",
    "accordé": "granted",
    "donné": "granted",
    "refused": "refused",
    "no": "refused",
    "non": "refused",
    "false": "refused",
    "0": "refused",
    "refusé": "refused",
    "withdrawn": "withdrawn",
    "opted out": "withdrawn",
    "opt-out": "withdrawn",
    "unsubscribed": "withdrawn",
    "retiré": "withdrawn",
    "désabonné": "withdrawn",
    "désinscrit": "withdrawn",
    "unknown": "unknown",
    "inconnu": "unknown",
}


def split_name(full: str) -> tuple[str, str]:
    """(first name, last name) of a full name: "Claire Martin" -> ("Claire", "Martin");
    "Marie de La Tour" -> ("Marie", "de La Tour"); "MARTIN Claire" (family name first, in
    capitals, as French lists often write it) -> ("Claire", "MARTIN")."""
    words = full.split()
    if len(words) < 2:
        return "", full.strip()
    leading_caps = 0
    for word in words:
        if not (word.isupper() and len(word) > 1):
            break
        leading_caps += 1
    if 0 < leading_caps < len(words):
        return " ".join(words[leading_caps:]), " ".join(words[:leading_caps])
    return words[0], " ".join(words[1:])


FIELDS = (
    ImportField(
        "civility", "Civility", aliases=("Civilité", "Salutation", "Person - Title", "Personne - Civilité")
    ),
    ImportField(
        "first_name",
        "First name",
        aliases=("First Name", "Firstname", "Prénom", "Person - First name", "Personne - Prénom"),
    ),
    ImportField(
        "last_name",
        "Last name",
        aliases=(
            "Last Name",
            "Lastname",
            "Surname",
            "Nom",
            "Nom de famille",
            "Person - Last name",
            "Personne - Nom de famille",
        ),
    ),
    ImportField(
        "name",
        "Full name",
        aliases=("Name", "Contact name", "Nom complet", "Person - Name", "Personne - Nom", "Contact"),
    ),
    ImportField(
        "job_title",
        "Job title",
        aliases=(
            "Job Title",
            "Title",
            "Position",
            "Poste",
            "Fonction",
            "Intitulé du poste",
            "Person - Job title",
            "Personne - Intitulé du poste",
            "Personne - Fonction",
        ),
    ),
    ImportField(
        "emails",
        "Emails",
        many=True,
        parse=split_list,
        aliases=(
            "Email",
            "E-mail",
            "Email address",
            "Adresse e-mail",
            "Work email",
            "Person - Email",
            "Person - Email - Work",
            "Person - Email - Home",
            "Person - Email - Other",
            "Personne - E-mail",
            "Personne - E-mail - Travail",
            "Personne - E-mail - Domicile",
            "Personne - E-mail - Autre",
        ),
    ),
    ImportField(
        "phones",
        "Phone numbers",
        many=True,
        parse=split_list,
        aliases=(
            "Phone",
            "Phone Number",
            "Mobile Phone Number",
            "Mobile",
            "Téléphone",
            "Tél",
            "Portable",
            "Numéro de téléphone",
            "Numéro de téléphone portable",
            "Person - Phone",
            "Person - Phone - Work",
            "Person - Phone - Mobile",
            "Person - Phone - Home",
            "Person - Phone - Other",
            "Personne - Téléphone",
            "Personne - Téléphone - Travail",
            "Personne - Téléphone - Portable",
            "Personne - Téléphone - Domicile",
        ),
    ),
    *org_transfer.link_fields(("Person - Organization", "Personne - Organisation")),
    ImportField("role", "Role", aliases=("Rôle", "Role in the organisation", "Rôle dans l'entreprise")),
    ImportField(
        "linkedin_url",
        "LinkedIn",
        aliases=("LinkedIn URL", "LinkedIn Bio", "LinkedIn profile", "Profil LinkedIn", "URL LinkedIn"),
    ),
    ImportField("rpps", "RPPS", aliases=("N° RPPS", "Numéro RPPS", "RPPS number"), parse=digits_padded(11)),
    ImportField(
        "profession",
        "Profession",
        aliases=("Métier", "Profession de santé"),
        parse=choice(PROFESSION_NAMES),
    ),
    ImportField("speciality", "Speciality", aliases=("Spécialité", "Specialty", "Savoir-faire")),
    ImportField(
        "marketing_consent",
        "Email marketing consent",
        aliases=(
            "Marketing consent",
            "Consent",
            "Consentement",
            "Consentement marketing",
            "Consentement e-mail marketing",
            "Person - Marketing status",
            "Personne - Statut marketing",
        ),
        parse=choice(CONSENT),
    ),
    ImportField(
        "marketing_consent_at",
        "Consent date",
        aliases=("Consent date", "Date du consentement"),
        parse=parse_date,
    ),
    ImportField(
        "marketing_consent_source",
        "Consent source",
        aliases=("Consent source", "Source du consentement"),
    ),
    ImportField(
        "do_not_call",
        "Do not call",
        aliases=("Do not call", "Ne pas appeler", "Bloctel", "Opposition au démarchage"),
        parse=parse_bool,
    ),
    ImportField("city", "City", aliases=("Ville", "Commune", "Person - City", "Personne - Ville")),
    ImportField("notes", "Notes", aliases=("Description", "Commentaires", "Remarques")),
    ImportField(
        "tags",
        "Tags",
        many=True,
        parse=split_list,
        aliases=("Étiquettes", "Labels", "Person - Labels", "Personne - Étiquettes"),
    ),
    ImportField(
        "owner_email",
        "Owner (email)",
        aliases=("Owner email", "Contact owner email", "E-mail du propriétaire", "Person - Owner email"),
    ),
)

# Service errors on these fields are shown against the import column they came from.
_ERROR_FIELDS = {
    "owner_id": "owner_email",
    "organisations": "organisation",
    "organisation_ids": "organisation",
}


def _prepare_row(db: Session, actor: Actor, data: dict[str, Any], owners: dict[str, int]) -> dict[str, Any]:
    """Resolve the owner's email, the organisation and split a full name the file gives alone."""
    data = dict(data)
    org_transfer.resolve_owner(data, owners)
    full = data.pop("name", None)
    if full and not data.get("last_name"):
        first, last = split_name(full)
        data["last_name"] = last
        if first and not data.get("first_name"):
            data["first_name"] = first
    role = data.pop("role", None)
    org_id = org_transfer.linked_organisation(db, actor, data)
    if org_id is not None:
        data["organisations"] = [{"organisation_id": org_id, "role": role, "is_primary": True}]
    elif role:
        raise ValidationFailed.on("role", "A role needs an organisation in the same row", "required")
    return data


def prepare(db: Session, actor: Actor, items: list[dict[str, Any]]) -> list[importing.Prepared]:
    owners = org_transfer.owner_ids(db, items)
    out: list[importing.Prepared] = []
    with memo.batch(db):
        for data in items:
            try:
                out.append(_prepare_row(db, actor, data, owners))
            except DomainError as exc:
                out.append(as_result(exc))
    return out


def _column_errors(exc: ValidationFailed) -> ValidationFailed:
    """The same errors, named after the import field that carried the value."""
    renamed = []
    for error in exc.errors:
        root = error.field.split(".")[0]
        if root == "organisations" and error.field.endswith(".role"):
            name = "role"
        else:
            name = _ERROR_FIELDS.get(root, error.field)
        renamed.append(FieldError(name, error.message, error.code, error.params))
    return ValidationFailed(errors=renamed)


def _emails(data: dict[str, Any]) -> list[str]:
    return [e.strip().lower() for e in data.get("emails") or [] if e.strip()]


def match_values(data: dict[str, Any], keys: tuple[str, ...]) -> set[tuple[str, str]]:
    return {("email", e) for e in _emails(data)} if "email" in keys else set()


def find_existing(
    db: Session, actor: Actor, items: list[dict[str, Any]], keys: tuple[str, ...]
) -> list[Contact | None]:
    """For each row, a visible contact holding one of its emails (as primary or other email),
    the row's first email first."""
    if "email" not in keys:
        return [None] * len(items)
    found = service.find_by_emails(db, actor, {e for d in items for e in _emails(d)})
    return [next((found[e] for e in _emails(d) if e in found), None) for d in items]


def create_many(db: Session, actor: Actor, items: list[dict[str, Any]]) -> list[Contact | DomainError]:
    return [
        _column_errors(r) if isinstance(r, ValidationFailed) else r
        for r in service.create_contacts(db, actor, items)
    ]


def update_many(
    db: Session, actor: Actor, items: list[tuple[Contact, dict[str, Any]]]
) -> list[importing.Updated | DomainError]:
    """An import adds emails, phones, tags and an organisation link rather than replacing them."""
    ids = [contact.id for contact, _ in items]
    current_tags = tags.tags_for(db, service.RECORD_TYPE, ids)
    current_links = service.links_of(db, ids)
    merged = []
    for contact, data in items:
        data = dict(data)
        if "emails" in data:
            known = {e.lower() for e in contact.emails or []}
            data["emails"] = list(contact.emails or []) + [
                e for e in data["emails"] if e.strip().lower() not in known
            ]
        if "phones" in data:
            data["phones"] = list(contact.phones or []) + list(data["phones"])
        if "tags" in data:
            data["tags"] = current_tags.get(contact.id, []) + list(data["tags"])
        if "organisations" in data:
            links = [dict(link) for link in current_links.get(contact.id, [])]
            for new in data["organisations"]:
                same = next(
                    (link for link in links if link["organisation_id"] == new["organisation_id"]), None
                )
                if same is None:
                    links.append({**new, "is_primary": not links})
                elif new.get("role"):
                    same["role"] = new["role"]
            data["organisations"] = links
        merged.append((contact, data))
    out: list[importing.Updated | DomainError] = []
    for r in service.update_contacts(db, actor, merged):
        if isinstance(r, ValidationFailed):
            out.append(_column_errors(r))
        elif isinstance(r, DomainError):
            out.append(r)
        else:
            out.append(importing.Updated(r.obj, r.after != r.before, r.before))
    return out


def restore(db: Session, actor: Actor, contact: Contact, previous: dict[str, Any]) -> Contact:
    """Put back the values an import replaced (`Updated.previous`), custom fields it added included."""
    data = dict(previous)
    before = dict(previous.get("custom_fields") or {})
    data["custom_fields"] = {key: before.get(key) for key in {*before, *(contact.custom_fields or {})}}
    return service.update_contact(db, actor, contact, data)


def export_reads(db: Session, contacts: list[Contact]) -> list[dict[str, Any]]:
    """API shapes, with the organisation links as a list of ids (the main one first)."""
    out = service.reads(db, contacts)
    for item in out:
        links = sorted(item.pop("organisations"), key=lambda link: not link["is_primary"])
        item["organisation_ids"] = [link["organisation_id"] for link in links]
    return out


IMPORTER = importing.register(
    importing.Importer(
        record_type=service.RECORD_TYPE,
        module="contacts",
        label="Contacts",
        fields=FIELDS,
        match_keys=("email",),
        match_labels={"email": "Email"},
        match_values=match_values,
        find_existing=find_existing,
        create_many=create_many,
        update_many=update_many,
        delete=lambda db, actor, contact: service.delete_contact(db, actor, contact),
        get=service.get_contact,
        restore=restore,
        prepare=prepare,
    )
)

EXPORTER = exporting.register(
    exporting.Exporter(
        record_type=service.RECORD_TYPE,
        module="contacts",
        list_page=service.list_contacts,
        reads=export_reads,
        columns=tuple("organisation_ids" if c == "organisations" else c for c in ContactRead.model_fields),
        default_sort="last_name",
    )
)
