"""Loads realistic French demo data. Sizes: small (~2,000 contacts), medium (100,000), large
(1,000,000 contacts, 200,000 organisations, 300,000 deals, 2,000,000 activities).

Bulk rows are inserted with executemany in batches (not through the services, which would take
hours at the large size); the audit trail gets one `demo_load` entry per run instead of one per row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from carnet.accounts import service as accounts
from carnet.accounts.models import Department, User
from carnet.core import audit, clock, search, security
from carnet.core.context import SYSTEM
from carnet.core.db import get_database
from carnet.core.search import SearchDocument, document_text
from carnet.demo.generators import FrenchDataGenerator, departement_for_postal_code
from carnet.organisations.models import Organisation
from carnet.organisations.service import size_category

SIZES = {
    "small": {"organisations": 400, "contacts": 2_000, "deals": 600, "activities": 4_000, "tasks": 800},
    "medium": {
        "organisations": 20_000,
        "contacts": 100_000,
        "deals": 30_000,
        "activities": 200_000,
        "tasks": 20_000,
    },
    "large": {
        "organisations": 200_000,
        "contacts": 1_000_000,
        "deals": 300_000,
        "activities": 2_000_000,
        "tasks": 100_000,
    },
}
DEPARTMENTS = [
    ("Direction", "direction"),
    ("Commercial", "commercial"),
    ("Finance", "finance"),
    ("RH", "rh"),
    ("Support", "support"),
]
DEMO_PASSWORD = "carnet-demo-2026"
DEMO_ADMIN = "admin@carnet.demo"
BATCH = 5_000
EXPLICIT_ID_TABLES = ("organisations", "contacts", "deals")


@dataclass
class DemoContext:
    db: Session
    gen: FrenchDataGenerator
    size: str
    counts: dict[str, int]
    departments: dict[str, int] = field(default_factory=dict)
    users: list[dict[str, Any]] = field(default_factory=list)  # id, department_id, role
    organisation_ids: list[int] = field(default_factory=list)
    organisation_meta: dict[int, dict[str, Any]] = field(default_factory=dict)
    contacts_by_org: dict[int, list[int]] = field(default_factory=dict)
    deal_ids: list[tuple[int, int]] = field(default_factory=list)  # (deal id, organisation id)
    created: dict[str, int] = field(default_factory=dict)

    def sales_users(self) -> list[dict[str, Any]]:
        return [u for u in self.users if u["role"] in ("sales", "manager")] or self.users


@dataclass
class LoadResult:
    size: str
    created: dict[str, int]
    seconds: float

    def summary(self) -> str:
        parts = ", ".join(f"{v:,} {k}".replace(",", " ") for k, v in self.created.items())
        return (
            f"demo data ({self.size}) loaded in {self.seconds:.1f}s: {parts}\n"
            f"log in at the web UI with {DEMO_ADMIN} / {DEMO_PASSWORD} (also sales@carnet.demo, manager@carnet.demo, "
            "finance@carnet.demo, lecture@carnet.demo)"
        )


def establishment_kind(name: str) -> tuple[str, str]:
    """(category, status) of a generated health establishment, read from its name."""
    if name.startswith("CHU "):
        return "chu", "public"
    if name.startswith("Centre hospitalier"):
        return "ch", "public"
    if name.startswith(("Clinique ", "Polyclinique ", "Hôpital privé ")):
        return "clinic", "private_for_profit"
    if name.startswith("EHPAD "):
        return "ehpad", "private_non_profit"
    return "other", "private_non_profit"


def bulk_insert(db: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        db.execute(insert(table), rows[start : start + BATCH])


def _departments_and_users(ctx: DemoContext) -> None:
    db = ctx.db
    roles = accounts.ensure_builtin_roles(db)
    for name, code in DEPARTMENTS:
        dept = Department(name=name, code=code, created_by_id=None)
        db.add(dept)
        db.flush()
        ctx.departments[code] = dept.id
    password_hash = security.hash_password(DEMO_PASSWORD)
    people = [
        (DEMO_ADMIN, "Claire", "Administratrice", "admin", "direction"),
        ("manager@carnet.demo", "Julien", "Moreau", "manager", "commercial"),
        ("sales@carnet.demo", "Sophie", "Lefèvre", "sales", "commercial"),
        ("finance@carnet.demo", "Hélène", "Garnier", "finance", "finance"),
        ("lecture@carnet.demo", "Marc", "Dupuis", "read-only", "support"),
        ("rh@carnet.demo", "Nadia", "Benali", "manager", "rh"),
        ("support@carnet.demo", "Loïc", "Perrin", "sales", "support"),
    ]
    extra_sales = {"small": 4, "medium": 15, "large": 40}[ctx.size]
    for i in range(extra_sales):
        p = ctx.gen.person()
        people.append(
            (f"commercial{i + 1}@carnet.demo", p["first_name"], p["last_name"], "sales", "commercial")
        )
    manager_id = None
    for email, first, last, role, dept in people:
        user = User(
            email=email,
            first_name=first,
            last_name=last,
            password_hash=password_hash,
            role_id=roles[role].id,
            department_id=ctx.departments[dept],
            language="fr",
            timezone="Europe/Paris",
            active=True,
        )
        if role == "sales" and dept == "commercial":
            user.manager_id = manager_id
        db.add(user)
        db.flush()
        if email == "manager@carnet.demo":
            manager_id = user.id
        ctx.users.append({"id": user.id, "department_id": user.department_id, "role": role})
    ctx.created["users"] = len(people)


def _organisations(ctx: DemoContext) -> None:
    gen, db = ctx.gen, ctx.db
    n = ctx.counts["organisations"]
    owners = ctx.sales_users()
    now = clock.now()
    years = [now.year - 3, now.year - 2, now.year - 1]
    first_id = (db.scalar(select(Organisation.id).order_by(Organisation.id.desc()).limit(1)) or 0) + 1
    rows: list[dict[str, Any]] = []
    docs: list[dict[str, Any]] = []
    types = ["prospect"] * 5 + ["client"] * 3 + ["partner", "supplier", "former_client"]
    hospital_share = 0.12
    for i in range(n):
        org_id = first_id + i
        company = gen.company(years=years)
        owner = owners[i % len(owners)]
        address = company["address"]
        if gen.rng.random() < hospital_share:
            name = gen.hospital_name(address["city"])
            naf = ("86.10Z", "Activités hospitalières")
            finess = gen.finess(departement_for_postal_code(address["postal_code"]))
        else:
            name = company["name"]
            naf = (company["naf_code"], company.get("naf_label", ""))
            finess = None
        revenue = {str(y): str(v) for y, v in company["revenue"].items()}
        latest = company["revenue"][years[-1]]
        created_at = now - _days(gen.rng.randint(0, 540))
        row = {
            "id": org_id,
            "name": name,
            "legal_name": name.upper(),
            "siren": company["siren"],
            "siret": company["siret"],
            "vat_number": company["vat_number"],
            "naf_code": naf[0],
            "legal_form": company["legal_form"],
            "headcount_bracket": company["headcount_bracket"],
            "headcount": company["headcount"],
            "size_category": size_category(company["headcount"], latest),
            "revenue_history": revenue,
            "website": company["website"],
            "emails": [f"contact@{company['domain']}"],
            "phones": [company["phone"]],
            "address_line1": address["line1"],
            "address_line2": address["line2"] or None,
            "postal_code": address["postal_code"],
            "city": address["city"],
            "country": "FR",
            "type": types[gen.rng.randrange(len(types))],
            "source": gen.source(),
            "parent_id": None,
            "finess": finess,
            "finess_ej": None,
            "establishment_category": establishment_kind(name)[0] if finess else None,
            "establishment_status": establishment_kind(name)[1] if finess else None,
            "description": None,
            "owner_id": owner["id"],
            "department_id": owner["department_id"],
            "custom_fields": {},
            "version": 1,
            "created_at": created_at,
            "updated_at": created_at,
            "created_by_id": owner["id"],
            "updated_by_id": owner["id"],
        }
        rows.append(row)
        ctx.organisation_ids.append(org_id)
        ctx.organisation_meta[org_id] = {
            "domain": company["domain"],
            "postal_code": address["postal_code"],
            "name": name,
            "owner": owner,
            "hospital": finess is not None,
        }
        docs.append(
            {
                "record_type": "organisation",
                "record_id": org_id,
                "title": name,
                "subtitle": f"{address['city']} · {company['siren']}",
                "body": document_text(
                    name,
                    address["city"],
                    address["postal_code"],
                    f"contact@{company['domain']}",
                    numbers=(company["siren"], company["siret"], company["phone"]),
                ),
                "owner_id": owner["id"],
                "department_id": owner["department_id"],
            }
        )
        if len(rows) >= BATCH:
            bulk_insert(db, Organisation.__table__, rows)
            bulk_insert(db, SearchDocument.__table__, docs)
            rows, docs = [], []
    bulk_insert(db, Organisation.__table__, rows)
    bulk_insert(db, SearchDocument.__table__, docs)
    # A few groups: every 25th organisation becomes an establishment of the previous one.
    from sqlalchemy import update

    for i in range(25, len(ctx.organisation_ids), 25):
        db.execute(
            update(Organisation)
            .where(Organisation.id == ctx.organisation_ids[i])
            .values(parent_id=ctx.organisation_ids[i - 1])
        )
    ctx.created["organisations"] = n


def _days(n: int) -> Any:
    from datetime import timedelta

    return timedelta(days=n, hours=n % 9)


def _project_templates(ctx: DemoContext) -> None:
    """The shipped project templates (migration 0062 makes them; a database built otherwise gets
    them here), left as they are when they exist."""
    from carnet.projects.library import install_builtin_templates

    created = install_builtin_templates(ctx.db)
    if created:
        ctx.created["project templates"] = len(created)


def steps() -> list[Any]:
    from carnet.demo import records

    return [
        _departments_and_users,
        _organisations,
        records.contacts,
        records.deals,
        records.activities,
        records.tasks,
        _project_templates,
    ]


def load(size: str = "small", seed: int = 42, if_empty: bool = False) -> LoadResult | None:
    started = time.perf_counter()
    database = get_database()
    with database.session() as db:
        if if_empty and db.scalar(select(User.id).limit(1)) is not None:
            return None
        ctx = DemoContext(db=db, gen=FrenchDataGenerator(seed), size=size, counts=SIZES[size])
        for step in steps():
            step(ctx)
            db.flush()
        search.add_missing_words(db)  # the steps wrote search documents directly
        audit.record(
            db, SYSTEM, "demo_load", "", None, {"size": size, "created": ctx.created}, f"demo data {size}"
        )
        db.commit()
    if database.dialect == "postgresql":
        with database.write_engine.connect() as conn:
            # Rows were inserted with explicit ids: move the id sequences past them.
            for table in EXPLICIT_ID_TABLES:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 1))"
                )
            conn.commit()
        # VACUUM as well as ANALYZE: the load updated some rows many times (a stage total per deal),
        # and a server whose autovacuum is off or behind would leave every later read scanning the
        # dead versions. VACUUM also fills the visibility map that index-only scans rely on.
        with database.write_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with database.write_engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    # Through the projects service, once the id sequences are past the inserted rows.
    with database.session() as db:
        ctx.created["projects"] = _projects(db)
    return LoadResult(size=size, created=ctx.created, seconds=time.perf_counter() - started)


DEMO_PROJECTS = 6


def _projects(db: Session) -> int:
    """Six "Centre Hospitalier" projects for public hospitals, started 40 to 10 days ago and owned by
    the demo salesperson, with a trainer in each team; the three oldest closed their qualification
    phase twelve days in (key contact named, checklist ticked, its tasks done). The clock is moved
    to each of those days, so dates, history and health read as they would have."""
    from datetime import UTC, datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from carnet.accounts.service import actor_for
    from carnet.contacts.models import ContactOrganisation
    from carnet.core import clock
    from carnet.organisations.models import Organisation
    from carnet.projects import service as projects
    from carnet.projects.models import ProjectTemplate
    from carnet.tasks import service as tasks

    admin = db.scalar(select(User).where(User.email == DEMO_ADMIN))
    sales = db.scalar(select(User).where(User.email == "sales@carnet.demo"))
    trainer = db.scalar(select(User).where(User.email == "manager@carnet.demo"))
    template_id = db.scalar(select(ProjectTemplate.id).where(ProjectTemplate.name == "Centre Hospitalier"))
    if admin is None or sales is None or trainer is None or template_id is None:
        return 0
    hospitals = list(
        db.scalars(
            select(Organisation.id)
            .where(Organisation.establishment_category.in_(("chu", "ch")))
            .order_by(Organisation.id)
            .limit(DEMO_PROJECTS)
        )
    )
    actor = actor_for(admin)
    paris = ZoneInfo("Europe/Paris")

    def at(day: Any, hour: int) -> datetime:
        return datetime.combine(day, time(hour), tzinfo=paris).astimezone(UTC)

    today = projects.today()
    created = 0
    try:
        for i, org_id in enumerate(hospitals):
            start = today - timedelta(days=40 - 6 * i)
            clock.freeze(at(start, 9))
            project = projects.create_project(
                db,
                actor,
                {
                    "organisation_id": org_id,
                    "template_id": template_id,
                    "owner_id": sales.id,
                    "start_date": start.isoformat(),
                    "target_date": (start + timedelta(days=240)).isoformat(),
                    "members": [{"user_id": trainer.id, "role": "Formateur"}],
                },
            )
            created += 1
            contact_id = db.scalar(
                select(ContactOrganisation.contact_id)
                .where(ContactOrganisation.organisation_id == org_id)
                .order_by(ContactOrganisation.contact_id)
                .limit(1)
            )
            if i >= 3 or contact_id is None:
                continue
            clock.freeze(at(start + timedelta(days=12), 16))
            projects.add_contact(db, actor, project, contact_id, "head_of_department")
            phase = projects.phases_overview(db, actor, project)[0]
            for item in phase.checklist:
                projects.set_checklist_item(db, actor, project, 0, item.item, True)
            for task in phase.tasks:
                tasks.complete_task(db, actor, task)
            projects.close_phase(db, actor, project, 0, "Besoin confirmé en réunion de service")
    finally:
        clock.reset()
    return created
