"""The catalogue: products with French VAT rates, an exemption reason at 0 %, permissions, pages."""

from __future__ import annotations

from sqlalchemy import func, select

from carnet.catalogue.models import Product
from carnet.core.events import Event

BED = {
    "name": "Lit médicalisé",
    "reference": "LIT-01",
    "unit": "u",
    "unit_price": "1 250,50",
    "vat_rate": "5.5",
    "category": "Mobilier",
}


def test_create_read_update_delete(api, db):
    r = api("fiona").post("/api/v1/products", json=BED)
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["unit_price"], body["vat_rate"], body["active"], body["recurring"]) == (
        "1250.50",
        "5.50",
        True,
        False,
    )
    pid = body["id"]
    r = api("fiona").patch(f"/api/v1/products/{pid}", json={"unit_price": 1300, "recurring": True})
    assert r.json()["unit_price"] == "1300.00" and r.json()["recurring"] is True and r.json()["version"] == 2
    listed = api("alice").get("/api/v1/products?q=lit-01").json()["items"]
    assert [p["id"] for p in listed] == [pid]
    assert api("alice").get("/api/v1/products?category=Mobilier&active=true").json()["items"][0]["id"] == pid
    types = db.scalars(select(Event.type).where(Event.record_type == "product").order_by(Event.id)).all()
    assert types == ["product.created", "product.updated"]
    assert api("manager").delete(f"/api/v1/products/{pid}").status_code == 204
    assert api("alice").get(f"/api/v1/products/{pid}").status_code == 404


def test_vat_rules(api, db):
    r = api("fiona").post("/api/v1/products", json={**BED, "vat_rate": "19.6"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "vat_rate"
    r = api("fiona").post("/api/v1/products", json={**BED, "vat_rate": "0"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "exemption_reason_required"
    r = api("fiona").post(
        "/api/v1/products",
        json={**BED, "vat_rate": "0", "vat_exemption_reason": "Exonération de TVA, art. 262 ter I du CGI"},
    )
    assert r.status_code == 201
    assert db.scalar(select(func.count()).select_from(Product)) == 1


def test_reference_is_unique(api):
    assert api("fiona").post("/api/v1/products", json=BED).status_code == 201
    r = api("fiona").post("/api/v1/products", json={**BED, "name": "Autre"})
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "duplicate"


def test_sales_read_but_do_not_write(api, db):
    r = api("alice").post("/api/v1/products", json=BED)
    assert r.status_code == 403
    assert db.scalar(select(func.count()).select_from(Product)) == 0
    assert api("reader").get("/api/v1/products").status_code == 200


def test_pages(web, api):
    pid = api("fiona").post("/api/v1/products", json=BED).json()["id"]
    client = web("fiona")
    page = client.get("/products")
    assert page.status_code == 200 and "Lit médicalisé" in page.text and "1\u202f250,50\xa0€" in page.text
    r = client.post(
        "/products/new",
        data={
            "csrf_token": client.csrf,
            "name": "Maintenance annuelle",
            "unit_price": "480",
            "vat_rate": "20.00",
            "recurring": "on",
            "active": "on",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    r = client.post(
        f"/products/{pid}/edit",
        data={
            "csrf_token": client.csrf,
            "name": "Lit",
            "unit_price": "abc",
            "vat_rate": "20.00",
            "active": "on",
        },
    )
    assert r.status_code == 422 and 'data-error-for="unit_price"' in r.text
    picker = client.get("/products/picker?q=maint")
    assert "Maintenance annuelle" in picker.text and "Lit" not in picker.text
