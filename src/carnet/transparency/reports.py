"""What the register produces: the declaration-ready export, the reports per professional and per
establishment, and the contact traceability ("who met whom, when, about what").

Every read goes through the visibility filters of the records involved; exports are audited.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from carnet.activities import service as activities
from carnet.activities.models import Activity
from carnet.company import service as company
from carnet.contacts import establishments
from carnet.contacts import service as contacts
from carnet.contacts.models import Contact
from carnet.core import audit, lifecycle, money
from carnet.core.context import Actor
from carnet.core.errors import ValidationFailed
from carnet.organisations import service as organisations
from carnet.organisations.models import Organisation
from carnet.projects import service as projects
from carnet.projects.models import PortalRequest, Project, ProjectDeal
from carnet.transparency import service
from carnet.transparency.models import Agreement, Benefit

# The declaration file is French whatever the user's language (Transparence Santé's own terms).
EXPORT_COLUMNS = (
    "Entreprise",
    "Type de lien",
    "Catégorie du bénéficiaire",
    "Nom",
    "Prénom",
    "Type d'identifiant",
    "Identifiant",
    "Profession",
    "Établissement / adresse",
    "Date",
    "Nature",
    "Montant TTC",
    "Référence convention",
    "Événement",
    "Objet",
)
NATURES_FR = {
    "meal": "Repas",
    "hospitality": "Hospitalité",
    "travel": "Transport",
    "gift": "Don",
    "fee": "Rémunération",
    "other": "Autre",
}
CATEGORIES_FR = {
    "health_professional": "Professionnel de santé",
    "student": "Étudiant",
    "association": "Association",
    "establishment": "Établissement de santé",
    "other": "Autre",
}
PROFESSIONS_FR = {
    "physician": "Médecin",
    "pharmacist": "Pharmacien",
    "nurse": "Infirmier",
    "midwife": "Sage-femme",
    "dentist": "Chirurgien-dentiste",
    "physiotherapist": "Masseur-kinésithérapeute",
    "biomedical_engineer": "Ingénieur biomédical",
    "healthcare_manager": "Cadre de santé",
    "other": "Autre",
}
TRACEABILITY_COLUMNS = (
    "Date",
    "Utilisateur",
    "Contact",
    "RPPS",
    "Profession",
    "Établissement",
    "Type",
    "Objet",
    "Projet lié",
)
KINDS_FR = {"call": "Appel", "email": "E-mail", "meeting": "Réunion", "visit": "Visite", "note": "Note"}
MAX_EXPORT_DAYS = 3660  # one export covers at most ten years


def french_amount(value: Decimal) -> str:
    """1234.5 -> "1234,50": the decimal comma of French spreadsheets, no thousands separator."""
    return f"{Decimal(value):.2f}".replace(".", ",")


def _require_period(raw: dict[str, Any]) -> tuple[date, date]:
    start, end = service.period(raw)
    if start is None or end is None:
        field = "from" if start is None else "to"
        raise ValidationFailed.on(field, "Give the period: from and to (YYYY-MM-DD)", "required")
    if (end - start).days > MAX_EXPORT_DAYS:
        raise ValidationFailed.on("to", "The period is too long (ten years at most)", "too_long")
    return start, end


def _csv(columns: tuple[str, ...], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        # A cell starting with = + - @ would run as a formula in a spreadsheet.
        writer.writerow(["'" + v if v[:1] in ("=", "+", "-", "@") else v for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


# -- declaration export -------------------------------------------------------------------------------


@dataclass
class _Identity:
    last_name: str
    first_name: str
    id_type: str
    identifier: str
    profession: str
    place: str


def _identities(db: Session, actor: Actor, rows: list[Any]) -> dict[tuple[str, int], _Identity]:
    contact_ids = {r.contact_id for r in rows if r.contact_id}
    org_ids = {r.organisation_id for r in rows if r.organisation_id}
    found_contacts = (
        list(
            db.scalars(select(Contact).where(Contact.id.in_(contact_ids), contacts.visible_clause(db, actor)))
        )
        if contact_ids and actor.can("contacts:read")
        else []
    )
    links = establishments.establishments_by_contact(db, [c.id for c in found_contacts])
    org_ids |= {ls[0]["organisation_id"] for ls in links.values() if ls}
    orgs = (
        {
            o.id: o
            for o in db.scalars(
                select(Organisation).where(
                    Organisation.id.in_(org_ids), organisations.visible_clause(db, actor)
                )
            )
        }
        if org_ids and actor.can("organisations:read")
        else {}
    )
    out: dict[tuple[str, int], _Identity] = {}
    for c in found_contacts:
        first = links.get(c.id) or []
        place = orgs.get(first[0]["organisation_id"]) if first else None
        out[("contact", c.id)] = _Identity(
            c.last_name,
            c.first_name or "",
            "RPPS" if c.rpps else "",
            c.rpps or "",
            PROFESSIONS_FR.get(c.profession or "", ""),
            _place(place),
        )
    for o in orgs.values():
        if o.finess_ej or o.finess:
            id_type, identifier = "FINESS", o.finess_ej or o.finess or ""
        else:
            id_type, identifier = ("SIREN", o.siren) if o.siren else ("", "")
        out[("organisation", o.id)] = _Identity(o.name, "", id_type, identifier, "", _place(o))
    return out


def _place(org: Organisation | None) -> str:
    if org is None:
        return ""
    address = " ".join(x for x in (org.address_line1, org.postal_code, org.city) if x)
    return f"{org.name}, {address}" if address else org.name


def _identity(identities: dict[tuple[str, int], _Identity], row: Any) -> _Identity:
    key = ("contact", row.contact_id) if row.contact_id else ("organisation", row.organisation_id)
    return identities.get(key) or _Identity("", "", "", "", "", "")


def export_rows(db: Session, actor: Actor, start: date, end: date) -> list[list[str]]:
    """One line per published benefit granted and per agreement signed in [start, end], by date."""
    lifecycle.require(actor, service.BENEFIT, "export")
    benefits = list(
        db.scalars(
            select(Benefit)
            .where(service.benefit_clause(db, actor), Benefit.granted_on >= start, Benefit.granted_on <= end)
            .order_by(Benefit.granted_on, Benefit.id)
        )
    )
    agreements = list(
        db.scalars(
            select(Agreement)
            .where(
                service.agreement_clause(db, actor), Agreement.signed_on >= start, Agreement.signed_on <= end
            )
            .order_by(Agreement.signed_on, Agreement.id)
        )
    )
    outcomes = service.benefit_outcomes(db, benefits)
    benefits = [b for b in benefits if outcomes[b.id].published]
    references = {
        a.id: a.reference
        for a in db.scalars(
            select(Agreement).where(Agreement.id.in_({b.agreement_id for b in benefits if b.agreement_id}))
        )
    }
    identities = _identities(db, actor, [*benefits, *agreements])
    name = company.get_company(db).name
    lines: list[tuple[date, int, int, list[str]]] = []
    for a in agreements:
        who = _identity(identities, a)
        lines.append(
            (
                a.signed_on,
                0,
                a.id,
                [
                    name,
                    "Convention",
                    CATEGORIES_FR[a.beneficiary_category],
                    who.last_name,
                    who.first_name,
                    who.id_type,
                    who.identifier,
                    who.profession,
                    who.place,
                    a.signed_on.strftime("%d/%m/%Y"),
                    NATURES_FR[a.nature],
                    french_amount(a.amount),
                    a.reference,
                    a.event or "",
                    a.purpose,
                ],
            )
        )
    for b in benefits:
        who = _identity(identities, b)
        lines.append(
            (
                b.granted_on,
                1,
                b.id,
                [
                    name,
                    "Avantage",
                    CATEGORIES_FR[b.beneficiary_category],
                    who.last_name,
                    who.first_name,
                    who.id_type,
                    who.identifier,
                    who.profession,
                    who.place,
                    b.granted_on.strftime("%d/%m/%Y"),
                    NATURES_FR[b.nature],
                    french_amount(b.amount),
                    references.get(b.agreement_id or 0, ""),
                    b.event or "",
                    b.description or "",
                ],
            )
        )
    return [line for *_, line in sorted(lines, key=lambda item: item[:3])]


def export_csv(db: Session, actor: Actor, raw: dict[str, Any]) -> bytes:
    """The declaration-ready CSV of a period (UTF-8 with BOM, `;`, decimal comma); audited."""
    start, end = _require_period(raw)
    rows = export_rows(db, actor, start, end)
    audit.record(
        db,
        actor,
        "export",
        service.BENEFIT,
        None,
        {"from": start.isoformat(), "to": end.isoformat(), "rows": len(rows)},
        "Transparence Santé declaration export",
    )
    db.commit()
    return _csv(EXPORT_COLUMNS, rows)


# -- reports ------------------------------------------------------------------------------------------


def _totals(benefits: list[Benefit], agreements: list[Agreement]) -> dict[str, Any]:
    by_key: dict[tuple[int, str], list[Decimal]] = defaultdict(list)
    for b in benefits:
        by_key[(b.granted_on.year, b.nature)].append(Decimal(b.amount))
    agreement_years: dict[int, list[Decimal]] = defaultdict(list)
    for a in agreements:
        agreement_years[a.signed_on.year].append(Decimal(a.amount))
    return {
        "benefit_totals": [
            {"year": year, "nature": nature, "count": len(v), "amount": money.money_str(sum(v, Decimal(0)))}
            for (year, nature), v in sorted(by_key.items())
        ],
        "agreement_totals": [
            {"year": year, "count": len(v), "amount": money.money_str(sum(v, Decimal(0)))}
            for year, v in sorted(agreement_years.items())
        ],
        "benefits_total": money.money_str(sum((Decimal(b.amount) for b in benefits), Decimal(0))),
        "agreements_total": money.money_str(sum((Decimal(a.amount) for a in agreements), Decimal(0))),
    }


def _records_for(
    db: Session, actor: Actor, clause_b: Any, clause_a: Any
) -> tuple[list[Benefit], list[Agreement]]:
    benefits = list(
        db.scalars(
            select(Benefit)
            .where(service.benefit_clause(db, actor), clause_b)
            .order_by(Benefit.granted_on, Benefit.id)
        )
    )
    agreements = list(
        db.scalars(
            select(Agreement)
            .where(service.agreement_clause(db, actor), clause_a)
            .order_by(Agreement.signed_on, Agreement.id)
        )
    )
    return benefits, agreements


def contact_report(db: Session, actor: Actor, contact_id: Any) -> dict[str, Any]:
    """All agreements and benefits of one health professional, with totals per year and nature."""
    lifecycle.require(actor, service.BENEFIT, "read")
    contact = contacts.get_contact(db, actor, contact_id)
    benefits, agreements = _records_for(
        db, actor, Benefit.contact_id == contact.id, Agreement.contact_id == contact.id
    )
    return {
        "beneficiary": {
            "type": "contact",
            "id": contact.id,
            "name": contact.full_name,
            "rpps": contact.rpps,
            "profession": contact.profession,
        },
        "professionals": [],
        "agreements": service.agreement_reads(db, agreements),
        "benefits": service.benefit_reads(db, benefits),
        **_totals(benefits, agreements),
    }


def organisation_report(db: Session, actor: Actor, organisation_id: Any) -> dict[str, Any]:
    """An establishment's agreements and benefits, and those of the professionals linked to it
    as their establishment (the visible ones)."""
    lifecycle.require(actor, service.BENEFIT, "read")
    org = organisations.get_organisation(db, actor, organisation_id)
    professional_ids = establishments.professional_ids_at(db, org.id)
    names = contacts.names_by_id(db, actor, set(professional_ids)) if actor.can("contacts:read") else {}
    ids = sorted(names)
    benefits, agreements = _records_for(
        db,
        actor,
        or_(Benefit.organisation_id == org.id, Benefit.contact_id.in_(ids)),
        or_(Agreement.organisation_id == org.id, Agreement.contact_id.in_(ids)),
    )
    return {
        "beneficiary": {
            "type": "organisation",
            "id": org.id,
            "name": org.name,
            "finess": org.finess,
            "finess_ej": org.finess_ej,
        },
        "professionals": [{"contact_id": i, "name": names[i]} for i in ids],
        "agreements": service.agreement_reads(db, agreements),
        "benefits": service.benefit_reads(db, benefits),
        **_totals(benefits, agreements),
    }


# -- contact traceability -----------------------------------------------------------------------------


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The period as UTC instants: from the start of `start` to the end of `end`, Paris time."""
    low = datetime.combine(start, time(0), service.PARIS)
    high = datetime.combine(end + timedelta(days=1), time(0), service.PARIS)
    return low, high


def traceability(db: Session, actor: Actor, raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Activities (calls, meetings, emails, visits, notes) of the period with a health professional
    (a contact with an RPPS or a profession) or a health establishment (an organisation with a
    category or a FINESS number): who met whom, when, about what, for which project."""
    lifecycle.require(actor, service.BENEFIT, "read")
    if not actor.can("activities:read"):
        return []
    start, end = _require_period(raw)
    low, high = _bounds(start, end)
    health_contact = select(Contact.id).where(or_(Contact.rpps.is_not(None), Contact.profession.is_not(None)))
    health_org = select(Organisation.id).where(
        or_(
            Organisation.establishment_category.is_not(None),
            Organisation.finess.is_not(None),
            Organisation.finess_ej.is_not(None),
        )
    )
    acts = list(
        db.scalars(
            select(Activity)
            .where(
                activities.visible_clause(db, actor),
                Activity.occurred_at >= low,
                Activity.occurred_at < high,
                or_(Activity.contact_id.in_(health_contact), Activity.organisation_id.in_(health_org)),
            )
            .order_by(Activity.occurred_at, Activity.id)
        )
    )
    contact_rows = (
        {
            c.id: c
            for c in db.scalars(
                select(Contact).where(
                    Contact.id.in_({a.contact_id for a in acts if a.contact_id}),
                    contacts.visible_clause(db, actor),
                )
            )
        }
        if actor.can("contacts:read")
        else {}
    )
    links = establishments.establishments_by_contact(db, list(contact_rows))
    org_ids = {a.organisation_id for a in acts if a.organisation_id} | {
        ls[0]["organisation_id"] for ls in links.values() if ls
    }
    org_names = organisations.names_by_id(db, actor, org_ids) if actor.can("organisations:read") else {}
    users = activities.owner_names(db, {a.owner_id for a in acts})
    projects = _projects_of(db, actor, acts)
    out = []
    for a in acts:
        c = contact_rows.get(a.contact_id or 0)
        first = links.get(c.id) if c else None
        org_id = a.organisation_id or (first[0]["organisation_id"] if first else None)
        out.append(
            {
                "activity_id": a.id,
                "occurred_at": a.occurred_at,
                "user": users.get(a.owner_id or 0, ""),
                "contact_id": c.id if c else None,
                "contact": c.full_name if c else "",
                "rpps": c.rpps if c else None,
                "profession": c.profession if c else None,
                "organisation_id": org_id if org_id in org_names else None,
                "establishment": org_names.get(org_id or 0, ""),
                "kind": a.kind,
                "subject": a.subject,
                "project_id": projects.get(a.id, (None, ""))[0],
                "project": projects.get(a.id, (None, ""))[1],
            }
        )
    return out


def _projects_of(db: Session, actor: Actor, acts: list[Activity]) -> dict[int, tuple[int, str]]:
    """{activity id: (project id, name)}: the project of a portal request that became the activity,
    else a project linked to the activity's deal; only projects the actor may see."""
    if not acts or not actor.can("projects:read"):
        return {}
    visible = projects.visible_clause(db, actor)
    out: dict[int, tuple[int, str]] = {}
    for activity_id, project_id, name in db.execute(
        select(PortalRequest.activity_id, Project.id, Project.name)
        .join(Project, Project.id == PortalRequest.project_id)
        .where(PortalRequest.activity_id.in_([a.id for a in acts]), visible)
    ):
        out.setdefault(activity_id, (project_id, name))
    deal_ids = {a.deal_id for a in acts if a.deal_id and a.id not in out}
    by_deal: dict[int, tuple[int, str]] = {}
    if deal_ids:
        for deal_id, project_id, name in db.execute(
            select(ProjectDeal.deal_id, Project.id, Project.name)
            .join(Project, Project.id == ProjectDeal.project_id)
            .where(ProjectDeal.deal_id.in_(deal_ids), visible)
            .order_by(Project.id)
        ):
            by_deal.setdefault(deal_id, (project_id, name))
    for a in acts:
        if a.id not in out and a.deal_id in by_deal:
            out[a.id] = by_deal[a.deal_id]  # type: ignore[index]
    return out


def traceability_csv(db: Session, actor: Actor, raw: dict[str, Any]) -> bytes:
    lifecycle.require(actor, service.BENEFIT, "export")
    rows = traceability(db, actor, raw)
    lines = [
        [
            r["occurred_at"].astimezone(service.PARIS).strftime("%d/%m/%Y %H:%M"),
            r["user"],
            r["contact"],
            r["rpps"] or "",
            PROFESSIONS_FR.get(r["profession"] or "", ""),
            r["establishment"],
            KINDS_FR.get(r["kind"], r["kind"]),
            r["subject"],
            r["project"],
        ]
        for r in rows
    ]
    audit.record(
        db,
        actor,
        "export",
        "activity",
        None,
        {"from": raw.get("from"), "to": raw.get("to"), "rows": len(rows)},
        "Contact traceability export",
    )
    db.commit()
    return _csv(TRACEABILITY_COLUMNS, lines)
