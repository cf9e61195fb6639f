"""Files in every flavour and the upload-map-run sequence, for import tests."""

from __future__ import annotations

import csv
import io


def csv_bytes(rows: list[list[str]], delimiter: str = ";", encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def upload(client, content: bytes, filename: str = "societes.csv", record_type: str = "organisation"):
    return client.post(
        "/api/v1/imports", files={"file": (filename, content, "text/csv")}, data={"record_type": record_type}
    )


def run_file(
    client,
    content: bytes,
    filename: str = "societes.csv",
    mapping: dict | None = None,
    record_type: str = "organisation",
    **options,
):
    """Upload, confirm the (suggested or given) mapping, run; returns the finished job."""
    r = upload(client, content, filename, record_type)
    assert r.status_code == 201, r.text
    job = r.json()
    body = {"mapping": mapping if mapping is not None else job["mapping"], **options}
    r = client.post(f"/api/v1/imports/{job['id']}/mapping", json=body)
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/imports/{job['id']}/run")
    assert r.status_code == 202, r.text
    return client.get(f"/api/v1/imports/{job['id']}").json()
