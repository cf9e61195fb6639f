"""Deals in imports and exports: column aliases (including Pipedrive and HubSpot export headers,
in English and French), the organisation found by its name or SIREN/SIRET, the pipeline and stage
found by their names (a won or lost status picks the pipeline's won or lost stage), French and
English amounts and dates, and the export columns. Every write goes through the deals service.

Deals have no natural key to spot a duplicate (two deals with one title and one customer are
common), so an import always creates."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session

from carnet.core import exporting, importing, memo
from carnet.core.context import Actor
from carnet.core.errors import DomainError, FieldError, ValidationFailed, as_result
from carnet.core.importing import CellError, ImportField, choice, parse_date, parse_int, split_list
from carnet.deals import pipelines, service
from carnet.deals.models import Deal, Pipeline, Stage
from carnet.deals.schemas import DealRead
from carnet.organisations import transfer as org_transfer

STATUSES = {
    "open": "open",
    "ouvert": "open",
    "ouverte": "open",
    "en cours": "open",
    "won": "won",
    "gagné": "won",
    "gagnée": "won",
    "closed won": "won",
    "fermé gagné": "won",
    "fermée gagnée": "won",
    "lost": "lost",
    "perdu": "lost",
    "perdue": "lost",
    "closed lost": "lost",
    "fermé perdu": "lost",
    "fermée perdue": "lost",
}


def parse_amount(text: str) -> str:
    """ "12 500,50 €", "12500.50", "12,500.50", "EUR 1.250.000" -> "12500.50"... The service checks
    the rest (negative, too many decimals, too large)."""
    compact = re.sub(r"[\s\u00a0\u202f'’]|€|eur\b", "", text.strip(), flags=re.IGNORECASE)
    if "," in compact and "." in compact:
        decimal = "," if compact.rfind(",") > compact.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        compact = compact.replace(thousands, "").replace(decimal, ".")
    elif compact.count(".") > 1:
        compact = compact.replace(".", "")
    elif compact.count(",") > 1:
        compact = compact.replace(",", "")
    elif re.fullmatch(r"\d{1,3},\d{3}", compact):
        # 12,500 is twelve thousand five hundred in English and 12.5 in French: refuse to guess.
        raise CellError("Write the amount without a thousands separator, such as 12500 or 12500,50")
    else:
        compact = compact.replace(",", ".")
    if not re.fullmatch(r"-?\d+(\.\d+)?", compact):
        raise CellError("Enter an amount in euros, such as 12500.50")
    return compact


def parse_probability(text: str) -> int:
    """ "75", "75 %", "75%" -> 75."""
    return parse_int(text.replace("%", ""))


FIELDS = (
    ImportField(
        "title",
        "Title",
        required=True,
        aliases=(
            "Deal - Title",
            "Deal Name",
            "Deal",
            "Title",
            "Titre",
            "Nom de la transaction",
            "Affaire",
            "Affaire - Titre",
            "Opportunité",
            "Intitulé",
        ),
    ),
    *org_transfer.link_fields(("Deal - Organization", "Affaire - Organisation")),
    ImportField(
        "pipeline",
        "Pipeline",
        aliases=("Deal - Pipeline", "Pipeline", "Pipeline de transactions", "Affaire - Pipeline"),
    ),
    ImportField(
        "stage",
        "Stage",
        aliases=(
            "Deal - Stage",
            "Deal Stage",
            "Stage",
            "Étape",
            "Étape de la transaction",
            "Phase de la transaction",
            "Affaire - Étape",
        ),
    ),
    ImportField(
        "status",
        "Status",
        aliases=("Deal - Status", "Status", "Statut", "Affaire - Statut"),
        parse=choice(STATUSES),
    ),
    ImportField(
        "amount",
        "Amount",
        aliases=("Deal - Value", "Amount", "Value", "Montant", "Valeur", "Affaire - Valeur"),
        parse=parse_amount,
    ),
    ImportField(
        "currency",
        "Currency",
        aliases=("Deal - Currency", "Currency", "Devise", "Affaire - Devise", "Currency code"),
    ),
    ImportField(
        "expected_close_date",
        "Expected close date",
        aliases=(
            "Deal - Expected close date",
            "Close Date",
            "Expected close date",
            "Date de clôture",
            "Date de clôture prévue",
            "Date de fermeture",
            "Affaire - Date de clôture prévue",
        ),
        parse=parse_date,
    ),
    ImportField(
        "probability",
        "Probability",
        aliases=("Deal - Probability", "Deal probability", "Probabilité", "Affaire - Probabilité"),
        parse=parse_probability,
    ),
    ImportField(
        "lost_reason",
        "Lost reason",
        aliases=(
            "Deal - Lost reason",
            "Closed Lost Reason",
            "Lost reason",
            "Motif de perte",
            "Raison de la perte",
            "Affaire - Raison de la perte",
        ),
    ),
    ImportField(
        "source",
        "Source",
        aliases=("Deal - Source", "Original Source", "Lead source", "Source d'origine", "Affaire - Source"),
    ),
    ImportField(
        "description", "Description", aliases=("Notes", "Deal Description", "Description de la transaction")
    ),
    ImportField(
        "tags",
        "Tags",
        many=True,
        parse=split_list,
        aliases=("Étiquettes", "Labels", "Deal - Labels", "Affaire - Étiquettes"),
    ),
    ImportField(
        "owner_email",
        "Owner (email)",
        aliases=("Owner email", "Deal owner email", "E-mail du propriétaire", "Deal - Owner email"),
    ),
)

# Service errors on these fields are shown against the import column they came from.
_ERROR_FIELDS = {
    "owner_id": "owner_email",
    "organisation_id": "organisation",
    "pipeline_id": "pipeline",
    "stage_id": "stage",
}


def _same(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def _pipeline(db: Session, actor: Actor, name: str | None) -> Pipeline:
    if name:
        usable = memo.cached(db, "usable_pipelines", lambda: pipelines.usable_pipelines(db, actor))
        found = next((p for p in usable if _same(p.name, name)), None)
        if found is None:
            raise ValidationFailed.on("pipeline", "Unknown pipeline", "unknown")
        return found
    default = memo.cached(db, "default_pipeline", lambda: pipelines.default_pipeline(db, actor))
    if default is None:
        raise ValidationFailed.on("pipeline", "There is no pipeline to put this deal in", "no_pipeline")
    return default


def _stage(stage_list: list[Stage], name: str | None, status: str | None) -> Stage | None:
    """The stage named `name` in the pipeline; a won/lost `status` (or a stage written "Closed
    won", "Perdu"... that the pipeline calls otherwise) picks the pipeline's won/lost stage, as an
    export keeps the last open stage of a deal next to its status. None: the first open stage."""
    stage = next((s for s in stage_list if _same(s.name, name)), None) if name else None
    if name and stage is None:
        kind = STATUSES.get(name.strip().lower())
        if kind is None:
            raise ValidationFailed.on("stage", "Unknown stage", "unknown")
        stage = next((s for s in stage_list if s.kind == kind), None)
    if status in ("won", "lost") and (stage is None or stage.kind != status):
        stage = next((s for s in stage_list if s.kind == status), None)
    elif status == "open" and stage is not None and stage.kind != "open":
        raise ValidationFailed.on("status", "The status does not match the stage", "status_mismatch")
    return stage


def _prepare_row(db: Session, actor: Actor, data: dict[str, Any], owners: dict[str, int]) -> dict[str, Any]:
    """Resolve the owner's email, the organisation, the pipeline and the stage."""
    data = dict(data)
    org_transfer.resolve_owner(data, owners)
    org_id = org_transfer.linked_organisation(db, actor, data)
    if org_id is not None:
        data["organisation_id"] = org_id
    pipeline = _pipeline(db, actor, data.pop("pipeline", None))
    stage_list = memo.cached(db, ("stages", pipeline.id), lambda: pipelines.stages(db, pipeline))
    stage = _stage(stage_list, data.pop("stage", None), data.pop("status", None))
    data["pipeline_id"] = pipeline.id
    if stage is not None:
        data["stage_id"] = stage.id
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
    return ValidationFailed(
        errors=[
            FieldError(_ERROR_FIELDS.get(e.field, e.field), e.message, e.code, e.params) for e in exc.errors
        ]
    )


def create_many(db: Session, actor: Actor, items: list[dict[str, Any]]) -> list[Deal | DomainError]:
    """Deals are written one at a time through `create_deal` (a deal entering its stage writes its
    stage history and may record a won or lost outcome), each in a savepoint of the caller's
    transaction, so a failing one leaves no trace and the caller still commits everything."""
    db.flush()
    out: list[Deal | DomainError] = []
    with Session(
        bind=db.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False
    ) as rows_db:
        rows_db.info.update(db.info)  # the visibility scopes and custom field definitions read already
        for data in items:
            try:
                out.append(service.create_deal(rows_db, actor, data))  # its commit releases the savepoint
            except ValidationFailed as exc:
                rows_db.rollback()
                out.append(_column_errors(exc))
            except DomainError as exc:
                rows_db.rollback()
                out.append(as_result(exc))
    return out


def export_reads(db: Session, deals: list[Deal]) -> list[dict[str, Any]]:
    """API shapes plus the pipeline's and the stage's names, which a spreadsheet reader needs."""
    out = service.reads(db, deals)
    stages = service.stage_map(db, {d.stage_id for d in deals})
    names = service.pipeline_names(db, {d.pipeline_id for d in deals})
    for item in out:
        item["pipeline"] = names.get(item["pipeline_id"])
        stage = stages.get(item["stage_id"])
        item["stage"] = stage.name if stage is not None else None
    return out


def _export_columns() -> tuple[str, ...]:
    columns: list[str] = []
    for name in DealRead.model_fields:
        columns.append(name)
        if name in ("pipeline_id", "stage_id"):
            columns.append(name.removesuffix("_id"))
    return tuple(columns)


IMPORTER = importing.register(
    importing.Importer(
        record_type=service.RECORD_TYPE,
        module="deals",
        label="Deals",
        fields=FIELDS,
        match_keys=(),
        find_existing=lambda db, actor, items, keys: [None] * len(items),
        create_many=create_many,
        delete=lambda db, actor, deal: service.delete_deal(db, actor, deal),
        get=service.get_deal,
        prepare=prepare,
    )
)

EXPORTER = exporting.register(
    exporting.Exporter(
        record_type=service.RECORD_TYPE,
        module="deals",
        list_page=service.list_deals,
        reads=export_reads,
        columns=_export_columns(),
        default_sort="-created_at",
    )
)
