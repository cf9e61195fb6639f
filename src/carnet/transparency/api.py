"""JSON routes of the transparency register: /api/v1/benefits (+ /export, /report), /api/v1/agreements,
/api/v1/transparency-thresholds and /api/v1/traceability."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response

from carnet.api.common import Page, body_dict, if_match_version, list_params, set_etag
from carnet.api.deps import ActorDep, DbDep, Requires
from carnet.core.errors import ValidationFailed
from carnet.transparency import reports, service
from carnet.transparency.schemas import (
    AgreementCreate,
    AgreementRead,
    AgreementWrite,
    BenefitCreate,
    BenefitRead,
    BenefitWrite,
    ReportRead,
    ThresholdRead,
    ThresholdWrite,
    TraceabilityRow,
)

router = APIRouter(tags=["transparency"])
CSV = "text/csv; charset=utf-8"


def _csv_response(content: bytes, name: str) -> Response:
    return Response(
        content, media_type=CSV, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get(
    "/benefits", response_model=Page[BenefitRead], dependencies=[Depends(Requires("transparency:read"))]
)
def list_benefits(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Filters: `from`, `to` (YYYY-MM-DD, the benefit's date), `nature=meal,gift`, `contact_id=`,
    `organisation_id=`, `project_id=`, `agreement_id=`; `sort=granted_on|-amount|...`. Each item
    carries `rules`: publication, the anti-gift formality, its deadline and the warnings."""
    rows, cursor = service.list_benefits(db, actor, list_params(request, default_sort="-granted_on"))
    return {"items": service.benefit_reads(db, rows), "next_cursor": cursor}


@router.post("/benefits", status_code=201, response_model=BenefitRead)
def create_benefit(body: BenefitCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    """The beneficiary is a contact (`contact_id`) or an organisation (`organisation_id`); under an
    agreement (`agreement_id`) it defaults to the agreement's."""
    benefit = service.create_benefit(db, actor, body_dict(body))
    set_etag(response, benefit)
    response.headers["Location"] = f"/api/v1/benefits/{benefit.id}"
    return service.benefit_reads(db, [benefit])[0]


@router.get(
    "/benefits/export", response_class=Response, dependencies=[Depends(Requires("transparency:export"))]
)
def export_benefits(
    db: DbDep,
    actor: ActorDep,
    from_: str = Query(alias="from", description="First day, YYYY-MM-DD"),
    to: str = Query(description="Last day, YYYY-MM-DD"),
) -> Response:
    """The declaration-ready CSV of the period: one line per published benefit and per agreement
    (UTF-8 with BOM, `;` separator, decimal comma). Columns: documentation/health-transparency.md."""
    content = reports.export_csv(db, actor, {"from": from_, "to": to})
    return _csv_response(content, f"transparence-sante_{from_}_{to}.csv")


@router.get(
    "/benefits/report", response_model=ReportRead, dependencies=[Depends(Requires("transparency:read"))]
)
def report(
    db: DbDep, actor: ActorDep, contact_id: int | None = None, organisation_id: int | None = None
) -> dict[str, Any]:
    """All agreements and benefits of a professional (`contact_id`) or of an establishment and its
    professionals (`organisation_id`), with totals per year and nature."""
    if (contact_id is None) == (organisation_id is None):
        raise ValidationFailed.on("contact_id", "Give contact_id or organisation_id", "required")
    if contact_id is not None:
        return reports.contact_report(db, actor, contact_id)
    return reports.organisation_report(db, actor, organisation_id)


@router.get("/benefits/{benefit_id}", response_model=BenefitRead)
def get_benefit(benefit_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    benefit = service.get_benefit(db, actor, benefit_id)
    set_etag(response, benefit)
    return service.benefit_reads(db, [benefit])[0]


@router.patch("/benefits/{benefit_id}", response_model=BenefitRead)
def update_benefit(
    benefit_id: int, body: BenefitWrite, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    benefit = service.get_benefit(db, actor, benefit_id)
    benefit = service.update_benefit(db, actor, benefit, body_dict(body), if_match_version(request))
    set_etag(response, benefit)
    return service.benefit_reads(db, [benefit])[0]


@router.delete("/benefits/{benefit_id}", status_code=204)
def delete_benefit(benefit_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    benefit = service.get_benefit(db, actor, benefit_id)
    service.delete_benefit(db, actor, benefit, if_match_version(request))
    return Response(status_code=204)


@router.get(
    "/agreements", response_model=Page[AgreementRead], dependencies=[Depends(Requires("transparency:read"))]
)
def list_agreements(request: Request, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Filters: `from`, `to` (the signature date), `contact_id=`, `organisation_id=`, `project_id=`,
    `formality_status=`; `q` searches the reference."""
    rows, cursor = service.list_agreements(db, actor, list_params(request, default_sort="-signed_on"))
    return {"items": service.agreement_reads(db, rows), "next_cursor": cursor}


@router.post("/agreements", status_code=201, response_model=AgreementRead)
def create_agreement(body: AgreementCreate, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    agreement = service.create_agreement(db, actor, body_dict(body))
    set_etag(response, agreement)
    response.headers["Location"] = f"/api/v1/agreements/{agreement.id}"
    return service.agreement_reads(db, [agreement])[0]


@router.get("/agreements/{agreement_id}", response_model=AgreementRead)
def get_agreement(agreement_id: int, db: DbDep, actor: ActorDep, response: Response) -> dict[str, Any]:
    agreement = service.get_agreement(db, actor, agreement_id)
    set_etag(response, agreement)
    return service.agreement_reads(db, [agreement])[0]


@router.patch("/agreements/{agreement_id}", response_model=AgreementRead)
def update_agreement(
    agreement_id: int, body: AgreementWrite, request: Request, db: DbDep, actor: ActorDep, response: Response
) -> dict[str, Any]:
    agreement = service.get_agreement(db, actor, agreement_id)
    agreement = service.update_agreement(db, actor, agreement, body_dict(body), if_match_version(request))
    set_etag(response, agreement)
    return service.agreement_reads(db, [agreement])[0]


@router.delete("/agreements/{agreement_id}", status_code=204)
def delete_agreement(agreement_id: int, request: Request, db: DbDep, actor: ActorDep) -> Response:
    agreement = service.get_agreement(db, actor, agreement_id)
    service.delete_agreement(db, actor, agreement, if_match_version(request))
    return Response(status_code=204)


@router.get("/transparency-thresholds", response_model=list[ThresholdRead])
def list_thresholds(db: DbDep, actor: ActorDep) -> list[dict[str, Any]]:
    """The dated amounts the rules read (publication, negligible value, authorisation)."""
    return [service.threshold_to_read(t) for t in service.list_thresholds(db, actor)]


@router.post("/transparency-thresholds", status_code=201, response_model=ThresholdRead)
def create_threshold(body: ThresholdWrite, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    """Administrators only. A new amount starts when the previous one ends (`valid_to`)."""
    return service.threshold_to_read(service.create_threshold(db, actor, body_dict(body)))


@router.patch("/transparency-thresholds/{threshold_id}", response_model=ThresholdRead)
def update_threshold(threshold_id: int, body: ThresholdWrite, db: DbDep, actor: ActorDep) -> dict[str, Any]:
    threshold = service.get_threshold(db, actor, threshold_id)
    return service.threshold_to_read(service.update_threshold(db, actor, threshold, body_dict(body)))


@router.delete("/transparency-thresholds/{threshold_id}", status_code=204)
def delete_threshold(threshold_id: int, db: DbDep, actor: ActorDep) -> Response:
    threshold = service.get_threshold(db, actor, threshold_id)
    service.delete_threshold(db, actor, threshold)
    return Response(status_code=204)


@router.get("/traceability", dependencies=[Depends(Requires("transparency:read"))])
def traceability(
    db: DbDep,
    actor: ActorDep,
    from_: str = Query(alias="from", description="First day, YYYY-MM-DD"),
    to: str = Query(description="Last day, YYYY-MM-DD"),
    format: str = Query(default="json", pattern="^(json|csv)$"),
) -> Any:
    """Who met whom, when, about what: activities with health professionals or establishments in
    the period. `format=csv` gives the same rows as a CSV file (UTF-8 with BOM, `;`)."""
    raw = {"from": from_, "to": to}
    if format == "csv":
        return _csv_response(reports.traceability_csv(db, actor, raw), f"tracabilite_{from_}_{to}.csv")
    return [TraceabilityRow(**row).model_dump(mode="json") for row in reports.traceability(db, actor, raw)]
