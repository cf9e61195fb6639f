"""The export route every listable record type can mount: `GET /<module>/export`."""

from __future__ import annotations

from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from carnet.api.deps import ActorDep, DbDep
from carnet.core import exporting

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def add_export_route(router: APIRouter, exporter: exporting.Exporter) -> None:
    """Mount the export on `router`. Call it before a `/{id}` route so "export" is not an id.
    Rows are produced (and the export audited) while the response streams, after the request's
    own session has ended."""

    @router.get(
        "/export",
        name=f"{exporter.record_type}_export",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}, XLSX: {}}}},
    )
    def export(
        request: Request,
        db: DbDep,
        actor: ActorDep,
        format: Literal["csv", "xlsx"] = Query("csv"),
    ) -> Response:
        """Every visible record matching the same filters as the list (`city=Lyon`, `tag=x`,
        `cf.<key>=...`, `sort`...), as CSV (UTF-8 with BOM, `;`-separated, for French Excel) or
        XLSX. Columns are the API fields, with `cf.<key>` columns for custom fields. Needs the
        `export` permission of the record type; audited."""
        prepared = exporting.prepare(db, actor, exporter, dict(request.query_params))
        disposition = f"attachment; filename*=UTF-8''{quote(prepared.filename)}"
        if prepared.format == "xlsx":
            return StreamingResponse(
                exporting.xlsx_chunks(prepared),
                media_type=XLSX,
                headers={"Content-Disposition": disposition},
            )
        return StreamingResponse(
            exporting.csv_chunks(prepared),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": disposition},
        )
