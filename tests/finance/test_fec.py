"""The FEC export (france.md §5): format, entries of invoices, credit notes, deposits and payments,
account mapping, dates, permissions, visibility and audit."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from carnet.core.audit import AuditEntry
from carnet.finance import fec, vat_on_hold

from .conftest import COMPANY, LINES, amount, by_piece, entries, line, read_fec, sides

HEADER = (
    "JournalCode\tJournalLib\tEcritureNum\tEcritureDate\tCompteNum\tCompteLib\tCompAuxNum\tCompAuxLib\t"
    "PieceRef\tPieceDate\tEcritureLib\tDebit\tCredit\tEcritureLet\tDateLet\tValidDate\tMontantdevise\tIdevise"
)


def _fec(api, who="fiona", start="2026-11-01", end="2026-11-30"):
    return api(who).get(f"/api/v1/exports/fec?from={start}&to={end}")


def test_format_columns_encoding_dates_and_amounts(api, make_invoice, issue, finance_org, pay):
    invoice = issue(
        make_invoice(who="fiona", organisation_id=finance_org), who="fiona", issue_date="2026-11-02"
    )
    pay(finance_org, "2026-11-10", "1000.00", invoice["id"], who="fiona")
    r = _fec(api)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/plain; charset=iso-8859-15"
    assert 'filename="732829320FEC20261130.txt"' in r.headers["content-disposition"]
    raw = r.content
    assert raw.split(b"\r\n")[0].decode("ascii") == HEADER
    assert b"\n" not in raw.replace(b"\r\n", b"")  # every record ends with CRLF, nothing else
    assert "R\u00e8glement".encode("iso-8859-15") in raw  # è as the single byte 0xE8
    rows = read_fec(raw)
    assert len(rows) == 4 + 2  # sale: 411, 706, VAT at 20 % and 5.5 %; payment: 512, 411
    for row in rows:
        assert len(row) == 18
        for name in ("EcritureDate", "PieceDate", "ValidDate"):
            assert re.fullmatch(r"\d{8}", row[name]), row
        for name in ("Debit", "Credit"):
            assert re.fullmatch(r"\d+,\d{2}", row[name]), row
        assert row["Montantdevise"] == row["Idevise"] == ""


def test_sales_entry_matches_the_invoice(api, make_invoice, issue, finance_org):
    invoice = issue(
        make_invoice(who="fiona", organisation_id=finance_org), who="fiona", issue_date="2026-11-02"
    )
    rows = read_fec(_fec(api).content)
    sale = by_piece(rows, invoice["number"])
    assert {r["EcritureNum"] for r in sale} == {"VT000001"}
    assert {
        (r["JournalCode"], r["JournalLib"], r["EcritureDate"], r["PieceDate"], r["ValidDate"]) for r in sale
    } == {("VT", "Ventes", "20261102", "20261102", "20261121")}
    # 3562.95 incl. VAT = 3241.00 excl. VAT + 123.75 (5.5 %) + 198.20 (20 %): france.md §5.5 invariants
    assert sides(sale) == [
        ("411000", "3562,95", "0,00"),
        ("706000", "0,00", "3241,00"),
        ("445710", "0,00", "198,20"),
        ("445710", "0,00", "123,75"),
    ]
    customer = sale[0]
    assert (customer["CompAuxNum"], customer["CompAuxLib"]) == (
        f"CLI{invoice['organisation_id']:06d}",
        "Clinique du Parc",
    )
    assert all(r["CompAuxNum"] == "" for r in sale[1:])
    assert customer["EcritureLib"] == f"Facture {invoice['number']} Clinique du Parc"
    assert amount(customer["Debit"]) == Decimal(invoice["total_gross"])


def test_every_entry_balances_and_totals_match_the_invoices(
    api, make_invoice, issue, accepted_quote, client_org, pay
):
    first = issue(make_invoice(who="manager"), issue_date="2026-11-02")
    second = issue(make_invoice(lines=[line("100.00"), line("50.00", "10")]), issue_date="2026-11-05")
    credit = api("manager").post(f"/api/v1/invoices/{second['id']}/credit-notes", json={"issue": True}).json()
    deposit = issue(
        api("manager")
        .post("/api/v1/invoices", json={"quote_id": accepted_quote["id"], "deposit_percent": "30"})
        .json()
    )
    final = issue(api("manager").post("/api/v1/invoices", json={"quote_id": accepted_quote["id"]}).json())
    pay(client_org, "2026-11-20", "500.00", first["id"])
    rows = read_fec(_fec(api, "admin").content)
    grouped = entries(rows)
    # entries in date order (the payment of 20/11 before the documents of 21/11), numbered per journal
    assert list(grouped) == ["VT000001", "VT000002", "BQ000001", "VT000003", "VT000004", "VT000005"]
    for number, lines in grouped.items():
        debit = sum((amount(r["Debit"]) for r in lines), Decimal(0))
        credit_total = sum((amount(r["Credit"]) for r in lines), Decimal(0))
        assert debit == credit_total, number
        assert len({(r["EcritureDate"], r["PieceRef"]) for r in lines}) == 1
    issued = [first, second, credit, deposit, final]
    sales = [r for r in rows if r["JournalCode"] == "VT"]
    # one entry per issued document, numbered continuously in the order of their dates
    assert sorted({r["EcritureNum"] for r in sales}) == [f"VT{i:06d}" for i in range(1, 6)]
    assert [by_piece(rows, d["number"])[0]["EcritureNum"] for d in issued] == [
        f"VT{i:06d}" for i in range(1, 6)
    ]
    # revenue: invoices less credit notes; deposits go to advances (4191), not revenue
    revenue = sum(
        (amount(r["Credit"]) - amount(r["Debit"]) for r in sales if r["CompteNum"] == "706000"), Decimal(0)
    )
    assert revenue == Decimal(first["total_net"]) + Decimal(final["total_net"])
    vat = sum(
        (amount(r["Credit"]) - amount(r["Debit"]) for r in sales if r["CompteNum"] == "445710"), Decimal(0)
    )
    assert vat == Decimal(first["total_vat"]) + Decimal(final["total_vat"])  # the deposit's VAT is reversed
    customers = sum(
        (amount(r["Debit"]) - amount(r["Credit"]) for r in sales if r["CompteNum"] == "411000"), Decimal(0)
    )
    assert customers == sum(
        (Decimal(d["total_gross"]) for d in (first, second, deposit)), Decimal(0)
    ) - Decimal(credit["total_gross"]) + Decimal(final["amount_due"])
    # the bank journal: 512 debit / 411 credit
    bank = [r for r in rows if r["JournalCode"] == "BQ"]
    assert sides(bank) == [("512000", "500,00", "0,00"), ("411000", "0,00", "500,00")]
    assert {r["EcritureNum"] for r in bank} == {"BQ000001"}
    assert bank[1]["EcritureLib"] == f"Règlement {first['number']}"
    assert bank[1]["CompAuxNum"] == f"CLI{client_org:06d}"


def test_credit_note_is_the_mirror_of_its_invoice(api, make_invoice, issue):
    invoice = issue(make_invoice(lines=[line("100.00"), line("50.00", "10")]), issue_date="2026-11-05")
    credit = (
        api("manager").post(f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"issue": True}).json()
    )
    rows = read_fec(_fec(api, "admin").content)
    assert sides(by_piece(rows, invoice["number"])) == [
        ("411000", "175,00", "0,00"),
        ("706000", "0,00", "150,00"),
        ("445710", "0,00", "20,00"),
        ("445710", "0,00", "5,00"),
    ]
    assert sides(by_piece(rows, credit["number"])) == [
        ("411000", "0,00", "175,00"),
        ("706000", "150,00", "0,00"),
        ("445710", "20,00", "0,00"),
        ("445710", "5,00", "0,00"),
    ]
    assert by_piece(rows, credit["number"])[0]["EcritureLib"].startswith(f"Avoir {credit['number']}")


def test_deposit_and_final_invoice_use_customer_advances(api, accepted_quote, issue):
    deposit = issue(
        api("manager")
        .post("/api/v1/invoices", json={"quote_id": accepted_quote["id"], "deposit_percent": "30"})
        .json()
    )
    final = issue(api("manager").post("/api/v1/invoices", json={"quote_id": accepted_quote["id"]}).json())
    rows = read_fec(_fec(api, "admin").content)
    # deposit: 30 % of 2250.00 at 5.5 % and of 991.00 at 20 % (france.md §2.2, account 4191)
    assert sides(by_piece(rows, deposit["number"])) == [
        ("411000", "1068,89", "0,00"),
        ("419100", "0,00", "972,30"),
        ("445710", "0,00", "59,46"),
        ("445710", "0,00", "37,13"),
    ]
    # final: the whole sale, less the advance and its VAT taken back; the client owes 2494.06
    assert sides(by_piece(rows, final["number"])) == [
        ("411000", "2494,06", "0,00"),
        ("419100", "297,30", "0,00"),
        ("445710", "59,46", "0,00"),
        ("419100", "675,00", "0,00"),
        ("445710", "37,13", "0,00"),
        ("706000", "0,00", "3241,00"),
        ("445710", "0,00", "198,20"),
        ("445710", "0,00", "123,75"),
    ]


def test_accounts_per_product_category_and_vat_rate(api, issue, company, client_org):
    def product(name, price, rate, category):
        body = {"name": name, "unit_price": price, "vat_rate": rate, "category": category}
        r = api("admin").post("/api/v1/products", json=body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    bed = product("Lit médicalisé", "1250", "5.5", "Matériel")
    mattress = product("Matelas", "420.50", "20", "Matériel")
    setup = product("Installation", "159", "20", "Services")
    r = api("fiona").put(
        "/api/v1/finance/accounts",
        json={
            "accounts": [
                {
                    "purpose": "revenue",
                    "key": "Matériel",
                    "number": "707100",
                    "label": "Ventes de matériel médical",
                },
                {"purpose": "vat", "key": "5.5", "number": "445711", "label": "TVA collectée 5,5 %"},
                {"purpose": "vat", "key": "20", "number": "445712", "label": "TVA collectée 20 %"},
            ]
        },
    )
    assert r.status_code == 200, r.text
    lines = [
        line("1250", "5.5", "Lit", product_id=bed, quantity="2"),
        line("420.50", "20", "Matelas", product_id=mattress, quantity="2"),
        line("159", "20", "Installation", product_id=setup),
    ]
    draft = (
        api("manager")
        .post(
            "/api/v1/invoices",
            json={"organisation_id": client_org, "lines": lines, "global_discount_percent": "10"},
        )
        .json()
    )
    invoice = issue(draft, issue_date="2026-11-03")
    assert (invoice["total_net"], invoice["total_vat"], invoice["total_gross"]) == (
        "3150.00",
        "303.75",
        "3453.75",
    )
    rows = by_piece(read_fec(_fec(api, "admin").content), invoice["number"])
    # 10 % off per rate: 5.5 % base 2250.00 (all Matériel); 20 % base 900.00 shared 841 : 159 between
    # Matériel (756.90) and Services (143.10) -> 707100 = 3006.90, 706000 = 143.10
    assert [(r["CompteNum"], r["CompteLib"], r["Debit"], r["Credit"]) for r in rows] == [
        ("411000", "Clients", "3453,75", "0,00"),
        ("707100", "Ventes de matériel médical", "0,00", "3006,90"),
        ("706000", "Prestations de services", "0,00", "143,10"),
        ("445712", "TVA collectée 20 %", "0,00", "180,00"),
        ("445711", "TVA collectée 5,5 %", "0,00", "123,75"),
    ]


def test_revenue_per_category_reads_each_line_after_its_discount_and_skips_sections(
    api, issue, company, client_org
):
    """The lines behind the revenue split (on PostgreSQL the database picks their fields out):
    sections skipped, each line's own discount, lines without a product on the default account,
    the accounts in the order of their first line."""
    r = api("admin").post(
        "/api/v1/products",
        json={"name": "Lit", "unit_price": "1000", "vat_rate": "20", "category": "Matériel"},
    )
    assert r.status_code == 201, r.text
    bed = r.json()["id"]
    r = api("fiona").put(
        "/api/v1/finance/accounts",
        json={"accounts": [{"purpose": "revenue", "key": "Matériel", "number": "707100", "label": "Ventes"}]},
    )
    assert r.status_code == 200, r.text
    lines = [
        line("100.00", "20", "Formation"),  # no product: 706000
        {"kind": "section", "description": "Matériel"},
        line("1000.00", "20", "Lit", product_id=bed, quantity="2", discount_percent="12.5"),  # 1750.00
        line("300.00", "20", "Réglage", discount_amount="45.50"),  # 254.50
        {"kind": "section", "description": "Divers"},
        line("99.99", "20", "Lit", product_id=bed, quantity="3"),  # 299.97
    ]
    draft = api("manager").post("/api/v1/invoices", json={"organisation_id": client_org, "lines": lines})
    assert draft.status_code == 201, draft.text
    invoice = issue(draft.json(), issue_date="2026-11-04")
    assert (invoice["total_net"], invoice["total_vat"]) == ("2404.47", "480.89")
    rows = by_piece(read_fec(_fec(api, "admin").content), invoice["number"])
    assert sides(rows) == [
        ("411000", "2885,36", "0,00"),
        ("706000", "0,00", "354,50"),
        ("707100", "0,00", "2049,97"),
        ("445710", "0,00", "480,89"),
    ]


def test_text_outside_latin9_is_transliterated_and_never_breaks_a_record(api, company, issue):
    org = (
        api("manager")
        .post("/api/v1/organisations", json={"name": "L\u2019Œuvre\tdes soins", "siren": "404833048"})
        .json()
    )
    draft = (
        api("manager")
        .post("/api/v1/invoices", json={"organisation_id": org["id"], "lines": [line("10")]})
        .json()
    )
    invoice = issue(draft)
    raw = _fec(api, "admin").content
    rows = by_piece(read_fec(raw), invoice["number"])
    assert rows[0]["CompAuxLib"] == "L'Œuvre des soins"
    assert "Œ".encode("iso-8859-15") == b"\xbc" and b"L'\xbcuvre des soins" in raw


def test_period_and_dates(api, make_invoice, issue):
    october = issue(make_invoice(), issue_date="2026-10-31")
    november = issue(make_invoice(), issue_date="2026-11-01")
    rows = read_fec(_fec(api, "admin", "2026-11-01", "2026-11-30").content)
    assert {r["PieceRef"] for r in rows} == {november["number"]}
    rows = read_fec(_fec(api, "admin", "2026-10-01", "2026-10-31").content)
    assert {r["PieceRef"] for r in rows} == {october["number"]}
    r = _fec(api, "admin", "2026-10-01", "2026-10-31")
    assert 'filename="732829320FEC20261031.txt"' in r.headers["content-disposition"]


def test_bad_dates_are_problem_details(api, company):
    for query, fields in (
        ("from=2026-13-01&to=2026-12-31", {"from"}),
        ("from=2026-01-01&to=31/12/2026", {"to"}),
        ("from=2026-12-31&to=2026-01-01", {"to"}),
        ("", {"from", "to"}),
    ):
        r = api("fiona").get(f"/api/v1/exports/fec?{query}")
        assert r.status_code == 422, query
        assert r.headers["content-type"].startswith("application/problem+json")
        assert {e["field"] for e in r.json()["errors"]} == fields, query


def test_needs_the_company_siren(api):
    r = api("fiona").get("/api/v1/exports/fec?from=2026-01-01&to=2026-12-31")
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "company_incomplete"


def test_permissions_visibility_and_audit(api, make_invoice, issue, finance_org, db):
    theirs = issue(make_invoice(who="manager"), issue_date="2026-11-02")  # Commercial department
    mine = issue(  # Finance department
        make_invoice(who="fiona", organisation_id=finance_org), who="fiona", issue_date="2026-11-03"
    )
    for who in ("alice", "reader", "manager"):
        assert _fec(api, who).status_code == 403, who
    assert db.scalars(select(AuditEntry).where(AuditEntry.record_type == "fec")).all() == []
    assert {r["PieceRef"] for r in read_fec(_fec(api, "fiona").content)} == {mine["number"]}
    assert {r["PieceRef"] for r in read_fec(_fec(api, "admin").content)} == {theirs["number"], mine["number"]}
    audits = db.scalars(
        select(AuditEntry).where(AuditEntry.record_type == "fec").order_by(AuditEntry.seq)
    ).all()
    assert [(a.action, a.summary) for a in audits] == [("export", "732829320FEC20261130.txt")] * 2
    assert audits[0].changes["filters"] == {"from": "2026-11-01", "to": "2026-11-30"}
    assert (audits[0].changes["rows"], audits[0].changes["entries"]) == (4, 1)


def test_share_out_adds_up_exactly():
    shares = fec.share_out(Decimal("100.00"), {"a": Decimal("1"), "b": Decimal("1"), "c": Decimal("1")})
    assert sorted(shares.values()) == [Decimal("33.33"), Decimal("33.33"), Decimal("33.34")]
    shares = fec.share_out(Decimal("900.00"), {"goods": Decimal("841.00"), "services": Decimal("159.00")})
    assert shares == {"goods": Decimal("756.90"), "services": Decimal("143.10")}
    assert fec.share_out(Decimal("10.00"), {"a": Decimal("0"), "b": Decimal("0")}) == {
        "a": Decimal("0.00"),
        "b": Decimal("10.00"),
    }


def _letters(rows: list[dict[str, str]]) -> list[tuple[str, str, str, str, str]]:
    """(piece, account, debit or credit, EcritureLet, DateLet) of each customer line."""
    return [
        (
            r["PieceRef"],
            r["CompteNum"],
            r["Debit"] if r["Debit"] != "0,00" else "-" + r["Credit"],
            r["EcritureLet"],
            r["DateLet"],
        )
        for r in rows
        if r["CompteNum"].startswith("411")
    ]


def test_customer_lines_are_lettered_once_settled_by_the_end_of_the_period(
    api, make_invoice, issue, finance_org, pay
):
    invoice = issue(
        make_invoice(who="fiona", organisation_id=finance_org), who="fiona", issue_date="2026-11-02"
    )
    number, code = invoice["number"], f"L{invoice['id']}"
    pay(finance_org, "2026-11-10", "1000.00", invoice["id"], who="fiona", reference="VIR-1")
    # partly paid: nothing is lettered, and no other line ever is
    rows = read_fec(_fec(api).content)
    assert {(r["EcritureLet"], r["DateLet"]) for r in rows} == {("", "")}
    pay(finance_org, "2026-11-20", "2562.95", invoice["id"], who="fiona", reference="VIR-2")
    rows = read_fec(_fec(api).content)
    assert _letters(rows) == [
        (number, "411000", "3562,95", code, "20261120"),
        ("VIR-1", "411000", "-1000,00", code, "20261120"),
        ("VIR-2", "411000", "-2562,95", code, "20261120"),
    ]
    assert all(r["EcritureLet"] == r["DateLet"] == "" for r in rows if not r["CompteNum"].startswith("411"))
    # exported up to the 15th, the invoice was not settled yet
    early = read_fec(_fec(api, end="2026-11-15").content)
    assert {r["EcritureLet"] for r in early} == {""}


def test_one_payment_over_two_invoices_and_a_credit_note_share_codes(
    api, make_invoice, issue, finance_org, pay
):
    first = issue(
        make_invoice(who="fiona", organisation_id=finance_org), who="fiona", issue_date="2026-11-02"
    )
    second = issue(
        make_invoice(who="fiona", organisation_id=finance_org), who="fiona", issue_date="2026-11-03"
    )
    pay(
        finance_org,
        "2026-11-12",
        "7125.90",
        who="fiona",
        reference="VIR-GROUPE",
        allocations=[
            {"invoice_id": first["id"], "amount": "3562.95"},
            {"invoice_id": second["id"], "amount": "3562.95"},
        ],
    )
    cancelled = issue(
        make_invoice(who="fiona", organisation_id=finance_org), who="fiona", issue_date="2026-11-04"
    )
    r = api("fiona").post(f"/api/v1/invoices/{cancelled['id']}/credit-notes", json={"issue": True})
    assert r.status_code == 201, r.text
    credit_note = r.json()
    letters = {
        (piece, amount): (code, day)
        for piece, _account, amount, code, day in _letters(read_fec(_fec(api).content))
    }
    together = (f"L{first['id']}", "20261112")
    assert letters[(first["number"], "3562,95")] == letters[(second["number"], "3562,95")] == together
    assert letters[("VIR-GROUPE", "-7125,90")] == together
    assert letters[(cancelled["number"], "3562,95")] == (f"L{cancelled['id']}", "20261121")
    assert letters[(credit_note["number"], "-3562,95")] == (f"L{cancelled['id']}", "20261121")


# -- VAT on hold (france.md §5.4: services without the debits option) -------------------------------


def _set_company(api, **changes):
    r = api("admin").put("/api/v1/settings/company", json={**COMPANY, **changes})
    assert r.status_code == 200, r.text


def _balanced(rows: list[dict[str, str]]) -> None:
    """Every entry of the file balances, every record has the 18 columns."""
    assert rows and all(len(r) == 18 for r in rows)
    for number, lines in entries(rows).items():
        debit = sum((amount(r["Debit"]) for r in lines), Decimal(0))
        credit = sum((amount(r["Credit"]) for r in lines), Decimal(0))
        assert debit == credit, number


def _balance_of(rows: list[dict[str, str]], account: str) -> Decimal:
    """Credits less debits of an account over the file."""
    return sum(
        (amount(r["Credit"]) - amount(r["Debit"]) for r in rows if r["CompteNum"] == account), Decimal(0)
    )


def test_services_vat_waits_on_hold_and_moves_to_44571_as_the_client_pays(
    api, make_invoice, issue, client_org, pay
):
    _set_company(api, operation_category="services", vat_on_debits=False)
    invoice = issue(make_invoice(lines=[line("1000.00")]), issue_date="2026-11-02")
    assert invoice["operation_category"] == "services"
    rows = read_fec(_fec(api, "admin").content)
    # not paid yet: the VAT of the services waits on 4458, nothing is due on 44571
    assert sides(by_piece(rows, invoice["number"])) == [
        ("411000", "1200,00", "0,00"),
        ("706000", "0,00", "1000,00"),
        ("445800", "0,00", "200,00"),
    ]
    assert by_piece(rows, invoice["number"])[2]["CompteLib"] == "TVA collectée en attente"
    # a partial payment moves its share: 200.00 × 1000.00 / 1200.00 = 166.666… → 166.67
    pay(client_org, "2026-11-10", "1000.00", invoice["id"], reference="VIR-1")
    rows = read_fec(_fec(api, "admin").content)
    assert sides(by_piece(rows, "VIR-1")) == [
        ("512000", "1000,00", "0,00"),
        ("411000", "0,00", "1000,00"),
        ("445800", "166,67", "0,00"),
        ("445710", "0,00", "166,67"),
    ]
    assert {r["EcritureNum"] for r in by_piece(rows, "VIR-1")} == {"BQ000001"}
    assert _balance_of(rows, "445800") == Decimal("33.33")
    # the payment that settles the invoice moves the rest: exactly the VAT on hold in all
    pay(client_org, "2026-11-20", "200.00", invoice["id"], reference="VIR-2")
    rows = read_fec(_fec(api, "admin").content)
    assert sides(by_piece(rows, "VIR-2")) == [
        ("512000", "200,00", "0,00"),
        ("411000", "0,00", "200,00"),
        ("445800", "33,33", "0,00"),
        ("445710", "0,00", "33,33"),
    ]
    assert _balance_of(rows, "445800") == 0
    assert _balance_of(rows, "445710") == Decimal(invoice["total_vat"])
    _balanced(rows)
    # lettering still pairs the customer lines only
    assert [(r["PieceRef"], r["EcritureLet"]) for r in rows if r["EcritureLet"]] == [
        (invoice["number"], f"L{invoice['id']}"),
        ("VIR-1", f"L{invoice['id']}"),
        ("VIR-2", f"L{invoice['id']}"),
    ]
    # the option taken later does not rewrite what was issued without it
    _set_company(api, operation_category="services", vat_on_debits=True)
    assert read_fec(_fec(api, "admin").content) == rows


def test_the_debits_option_and_goods_put_vat_on_44571_at_invoicing(api, make_invoice, issue, client_org, pay):
    _set_company(api, operation_category="services", vat_on_debits=True)
    services = issue(make_invoice(lines=[line("1000.00")]), issue_date="2026-11-02")
    _set_company(api, operation_category="services", vat_on_debits=False)
    goods = issue(make_invoice(lines=[line("500.00")], operation_category="goods"), issue_date="2026-11-03")
    pay(client_org, "2026-11-10", "1200.00", services["id"], reference="VIR-S")
    pay(client_org, "2026-11-11", "600.00", goods["id"], reference="VIR-G")
    rows = read_fec(_fec(api, "admin").content)
    assert sides(by_piece(rows, services["number"])) == [
        ("411000", "1200,00", "0,00"),
        ("706000", "0,00", "1000,00"),
        ("445710", "0,00", "200,00"),
    ]
    assert sides(by_piece(rows, goods["number"])) == [
        ("411000", "600,00", "0,00"),
        ("706000", "0,00", "500,00"),
        ("445710", "0,00", "100,00"),
    ]
    # nothing waits, so the payments move nothing
    assert sides(by_piece(rows, "VIR-S")) == [("512000", "1200,00", "0,00"), ("411000", "0,00", "1200,00")]
    assert sides(by_piece(rows, "VIR-G")) == [("512000", "600,00", "0,00"), ("411000", "0,00", "600,00")]
    assert not [r for r in rows if r["CompteNum"] == "445800"]
    _balanced(rows)


def _products_with_accounts(api) -> dict[str, int]:
    """A bed and a mattress of the category Matériel (707100, goods) and an installation of the
    category Services (706100, services)."""

    def product(name, price, rate, category):
        body = {"name": name, "unit_price": price, "vat_rate": rate, "category": category}
        r = api("admin").post("/api/v1/products", json=body)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    ids = {
        "bed": product("Lit médicalisé", "1250", "5.5", "Matériel"),
        "mattress": product("Matelas", "420.50", "20", "Matériel"),
        "setup": product("Installation", "159", "20", "Services"),
    }
    r = api("admin").put(
        "/api/v1/finance/accounts",
        json={
            "accounts": [
                {"purpose": "revenue", "key": "Matériel", "number": "707100", "label": "Ventes de matériel"},
                {"purpose": "revenue", "key": "Services", "number": "706100", "label": "Installations"},
            ]
        },
    )
    assert r.status_code == 200, r.text
    return ids


def test_mixed_invoice_puts_only_the_services_vat_on_hold(api, make_invoice, issue, client_org, pay):
    _set_company(api, operation_category="mixed", vat_on_debits=False)
    products = _products_with_accounts(api)
    lines = [
        line("1250", "5.5", "Lit", product_id=products["bed"], quantity="2"),
        line("420.50", "20", "Matelas", product_id=products["mattress"], quantity="2"),
        line("159", "20", "Installation", product_id=products["setup"]),
    ]
    invoice = issue(make_invoice(lines=lines), issue_date="2026-11-02")
    assert (invoice["operation_category"], invoice["total_vat"], invoice["total_gross"]) == (
        "mixed",
        "337.50",
        "3837.50",
    )
    # 20 %: 200.00 of VAT on 841.00 of goods and 159.00 of services -> 168.20 due, 31.80 on hold;
    # 5.5 %: only goods, 137.50 due
    pay(client_org, "2026-11-10", "3837.50", invoice["id"], reference="VIR-M")
    rows = read_fec(_fec(api, "admin").content)
    assert sides(by_piece(rows, invoice["number"])) == [
        ("411000", "3837,50", "0,00"),
        ("707100", "0,00", "3341,00"),
        ("706100", "0,00", "159,00"),
        ("445710", "0,00", "168,20"),
        ("445800", "0,00", "31,80"),
        ("445710", "0,00", "137,50"),
    ]
    assert sides(by_piece(rows, "VIR-M")) == [
        ("512000", "3837,50", "0,00"),
        ("411000", "0,00", "3837,50"),
        ("445800", "31,80", "0,00"),
        ("445710", "0,00", "31,80"),
    ]
    _balanced(rows)


def test_lines_without_their_own_nature_take_the_invoice_one(api, make_invoice, issue, client_org):
    _set_company(api, operation_category="mixed", vat_on_debits=False)
    products = _products_with_accounts(api)
    # mixed and nothing says which line is what: counted as goods, its VAT is due at invoicing
    mixed = issue(make_invoice(lines=[line("100.00"), line("50.00", "10")]), issue_date="2026-11-02")
    # a services invoice: a line without product is a service, the bed stays goods
    services = issue(
        make_invoice(
            lines=[line("100.00"), line("1250", "5.5", "Lit", product_id=products["bed"])],
            operation_category="services",
        ),
        issue_date="2026-11-03",
    )
    rows = read_fec(_fec(api, "admin").content)
    assert sides(by_piece(rows, mixed["number"])) == [
        ("411000", "175,00", "0,00"),
        ("706000", "0,00", "150,00"),
        ("445710", "0,00", "20,00"),
        ("445710", "0,00", "5,00"),
    ]
    assert sides(by_piece(rows, services["number"])) == [
        ("411000", "1438,75", "0,00"),
        ("706000", "0,00", "100,00"),
        ("707100", "0,00", "1250,00"),
        ("445800", "0,00", "20,00"),
        ("445710", "0,00", "68,75"),
    ]
    _balanced(rows)


def test_one_payment_over_two_invoices_moves_the_vat_of_each(api, make_invoice, issue, client_org, pay):
    _set_company(api, operation_category="services", vat_on_debits=False)
    first = issue(make_invoice(lines=[line("1000.00")]), issue_date="2026-11-02")
    second = issue(make_invoice(lines=[line("500.00")]), issue_date="2026-11-03")
    pay(
        client_org,
        "2026-11-12",
        "1500.00",
        reference="VIR-GROUPE",
        allocations=[
            {"invoice_id": first["id"], "amount": "1200.00"},  # settled: all its 200.00
            {"invoice_id": second["id"], "amount": "300.00"},  # half of 600.00: 50.00 of 100.00
        ],
    )
    rows = read_fec(_fec(api, "admin").content)
    assert sides(by_piece(rows, "VIR-GROUPE")) == [
        ("512000", "1500,00", "0,00"),
        ("411000", "0,00", "1500,00"),
        ("445800", "200,00", "0,00"),
        ("445710", "0,00", "200,00"),
        ("445800", "50,00", "0,00"),
        ("445710", "0,00", "50,00"),
    ]
    assert _balance_of(rows, "445800") == Decimal("50.00")  # what the second invoice still waits for
    _balanced(rows)


def test_credit_notes_take_back_the_vat_still_on_hold(api, make_invoice, issue, client_org, pay):
    _set_company(api, operation_category="services", vat_on_debits=False)
    unpaid = issue(make_invoice(lines=[line("1000.00")]), issue_date="2026-11-02")
    half_paid = issue(make_invoice(lines=[line("1000.00")]), issue_date="2026-11-02")
    paid = issue(make_invoice(lines=[line("1000.00")]), issue_date="2026-11-02")
    pay(client_org, "2026-11-05", "600.00", half_paid["id"], reference="VIR-HALF")
    pay(client_org, "2026-11-05", "1200.00", paid["id"], reference="VIR-ALL")

    def credit(invoice, **body):
        r = api("manager").post(
            f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"issue": True, **body}
        )
        assert r.status_code == 201, r.text
        return r.json()

    whole = credit(unpaid)
    rest = credit(half_paid, lines=[line("500.00")])
    refund = credit(paid)
    rows = read_fec(_fec(api, "admin").content)
    # unpaid: the mirror entry, the VAT comes off the on-hold account
    assert sides(by_piece(rows, whole["number"])) == [
        ("411000", "0,00", "1200,00"),
        ("706000", "1000,00", "0,00"),
        ("445800", "200,00", "0,00"),
    ]
    # half paid: 100.00 moved with the payment, the credit note takes back the other 100.00
    assert sides(by_piece(rows, "VIR-HALF"))[2:] == [
        ("445800", "100,00", "0,00"),
        ("445710", "0,00", "100,00"),
    ]
    assert sides(by_piece(rows, rest["number"])) == [
        ("411000", "0,00", "600,00"),
        ("706000", "500,00", "0,00"),
        ("445800", "100,00", "0,00"),
    ]
    # paid: the VAT had moved to 44571 with the payment, the credit note takes it back from there
    assert sides(by_piece(rows, refund["number"])) == [
        ("411000", "0,00", "1200,00"),
        ("706000", "1000,00", "0,00"),
        ("445710", "200,00", "0,00"),
    ]
    assert _balance_of(rows, "445800") == 0
    assert _balance_of(rows, "445710") == Decimal("100.00")  # the VAT of what the client paid and keeps
    _balanced(rows)


def test_deposit_and_final_invoice_for_services_without_the_option(api, company, client_org, issue, pay):
    deposit, quote = _services_deposit(api, client_org, issue)
    pay(client_org, "2026-11-10", deposit["total_gross"], deposit["id"], reference="VIR-ACOMPTE")
    final = issue(api("manager").post("/api/v1/invoices", json={"quote_id": quote["id"]}).json())
    pay(client_org, "2026-11-21", final["amount_due"], final["id"], reference="VIR-SOLDE")
    rows = read_fec(_fec(api, "admin").content)
    # the deposit's VAT waits for the deposit's payment (france.md §2.2)
    assert sides(by_piece(rows, deposit["number"])) == [
        ("411000", "1068,89", "0,00"),
        ("419100", "0,00", "972,30"),
        ("445800", "0,00", "59,46"),
        ("445800", "0,00", "37,13"),
    ]
    assert sides(by_piece(rows, "VIR-ACOMPTE"))[2:] == [
        ("445800", "96,59", "0,00"),
        ("445710", "0,00", "96,59"),
    ]
    # the final invoice puts the whole sale's VAT on hold and takes back the deposit's from it
    assert sides(by_piece(rows, final["number"])) == [
        ("411000", "2494,06", "0,00"),
        ("419100", "297,30", "0,00"),
        ("445800", "59,46", "0,00"),
        ("419100", "675,00", "0,00"),
        ("445800", "37,13", "0,00"),
        ("706000", "0,00", "3241,00"),
        ("445800", "0,00", "198,20"),
        ("445800", "0,00", "123,75"),
    ]
    # its payment moves the rest: 321.95 - 96.59
    assert sides(by_piece(rows, "VIR-SOLDE"))[2:] == [
        ("445800", "225,36", "0,00"),
        ("445710", "0,00", "225,36"),
    ]
    assert _balance_of(rows, "445800") == 0
    assert _balance_of(rows, "445710") == Decimal(final["total_vat"])
    assert _balance_of(rows, "419100") == 0
    _balanced(rows)


def test_the_on_hold_account_is_configurable(api, make_invoice, issue, client_org, pay):
    _set_company(api, operation_category="services", vat_on_debits=False)
    r = api("fiona").put(
        "/api/v1/finance/accounts",
        json={
            "accounts": [
                {"purpose": "vat_on_hold", "number": "445810", "label": "TVA sur encaissements à venir"},
                {"purpose": "vat", "key": "20", "number": "445712", "label": "TVA collectée 20 %"},
            ]
        },
    )
    assert r.status_code == 200, r.text
    assert ("vat_on_hold", "", "445810") in {
        (a["purpose"], a["key"], a["number"]) for a in r.json()["accounts"]
    }
    invoice = issue(make_invoice(lines=[line("1000.00")]), issue_date="2026-11-02")
    pay(client_org, "2026-11-10", "1200.00", invoice["id"], reference="VIR-1")
    rows = read_fec(_fec(api, "admin").content)
    assert [
        (r["CompteNum"], r["CompteLib"], r["Debit"], r["Credit"]) for r in by_piece(rows, invoice["number"])
    ][2:] == [
        ("445810", "TVA sur encaissements à venir", "0,00", "200,00"),
    ]
    assert sides(by_piece(rows, "VIR-1"))[2:] == [("445810", "200,00", "0,00"), ("445712", "0,00", "200,00")]
    _balanced(rows)


def test_settle_gives_the_last_payment_the_rest():
    settlement = vat_on_hold.Settlement({}, {})
    payments = [vat_on_hold.Allocation(i, Decimal("400.00")) for i in (1, 2, 3)]
    vat_on_hold.settle(7, {"20.00": Decimal("200.00")}, Decimal("1200.00"), payments, settlement)
    moved = [settlement.moved[(i, 7)]["20.00"] for i in (1, 2, 3)]
    assert moved == [Decimal("66.67"), Decimal("66.67"), Decimal("66.66")]
    assert sum(moved) == Decimal("200.00")
    # two rates: each payment's share is split by what each rate still has on hold
    settlement = vat_on_hold.Settlement({}, {})
    on_hold = {"20.00": Decimal("200.00"), "5.50": Decimal("5.50")}
    vat_on_hold.settle(
        8,
        on_hold,
        Decimal("1305.50"),
        payments[:1] + [vat_on_hold.Allocation(2, Decimal("905.50"))],
        settlement,
    )
    first, last = settlement.moved[(1, 8)], settlement.moved[(2, 8)]
    # 205.50 × 400 / 1305.50 = 62.964… → 62.96, shared 200.00 : 5.50 between the rates
    assert first == {"20.00": Decimal("61.27"), "5.50": Decimal("1.69")}
    assert {r: first[r] + last[r] for r in on_hold} == on_hold


def test_nature_of_revenue_accounts():
    assert [
        vat_on_hold.nature_of_account(n) for n in ("707100", "701000", "706000", "704", "708000", "7091")
    ] == [
        "goods",
        "goods",
        "services",
        "services",
        None,
        None,
    ]


def test_vat_on_hold_across_periods(api, make_invoice, issue, client_org, pay):
    _set_company(api, operation_category="services", vat_on_debits=False)
    invoice = issue(make_invoice(lines=[line("1000.00")]), issue_date="2026-10-15")
    pay(client_org, "2026-10-20", "300.00", invoice["id"], reference="VIR-OCT")
    pay(client_org, "2026-11-10", "300.00", invoice["id"], reference="VIR-NOV")
    r = api("manager").post(
        f"/api/v1/invoices/{invoice['id']}/credit-notes", json={"issue": True, "lines": [line("500.00")]}
    )
    assert r.status_code == 201, r.text
    credit_note = r.json()
    october = read_fec(_fec(api, "admin", "2026-10-01", "2026-10-31").content)
    assert sides(by_piece(october, "VIR-OCT"))[2:] == [
        ("445800", "50,00", "0,00"),
        ("445710", "0,00", "50,00"),
    ]
    # November: the October invoice and payment are not in the file, but they count
    november = read_fec(_fec(api, "admin").content)
    assert {r["PieceRef"] for r in november} == {"VIR-NOV", credit_note["number"]}
    assert sides(by_piece(november, "VIR-NOV"))[2:] == [
        ("445800", "50,00", "0,00"),
        ("445710", "0,00", "50,00"),
    ]
    assert sides(by_piece(november, credit_note["number"]))[2:] == [("445800", "100,00", "0,00")]
    _balanced(november)


def _services_deposit(api, client_org, issue):
    """A services quote (no VAT-on-debits option) sent, accepted, and its 30 % deposit issued."""
    _set_company(api, operation_category="services", vat_on_debits=False)
    quote = (
        api("alice")
        .post(
            "/api/v1/quotes",
            json={
                "organisation_id": client_org,
                "title": "Installation",
                "lines": LINES,
                "operation_category": "services",
            },
        )
        .json()
    )
    assert (
        api("alice").post(f"/api/v1/quotes/{quote['id']}/send", json={"to": "achats@chu.fr"}).status_code
        == 200
    )
    r = api("alice").post(f"/api/v1/quotes/{quote['id']}/accept", json={"signer_name": "Dr Martin"})
    assert r.status_code == 200, r.text
    deposit = issue(
        api("manager")
        .post("/api/v1/invoices", json={"quote_id": quote["id"], "deposit_percent": "30"})
        .json(),
        issue_date="2026-11-05",
    )
    return deposit, quote


@pytest.mark.parametrize("deposit_paid", ["before the credit note", "after the credit note"])
@pytest.mark.parametrize(
    "credited",
    [
        [line("333.33")],
        [line("333.33"), line("777.77", "5.5"), line("12.34")],  # two rates: the shares are split
        None,  # the whole final invoice
    ],
)
def test_credit_note_on_a_final_invoice_leaves_nothing_on_hold_once_all_is_paid(
    api, company, client_org, issue, pay, deposit_paid, credited
):
    """Deposit, final invoice, a credit note on the final invoice, the deposit paid before or after
    it, then what is still due: the on-hold account ends at exactly zero and 44571 holds exactly
    the VAT of what stays sold, to the cent."""
    deposit, quote = _services_deposit(api, client_org, issue)
    final = issue(api("manager").post("/api/v1/invoices", json={"quote_id": quote["id"]}).json())
    if deposit_paid == "before the credit note":
        pay(client_org, "2026-11-06", deposit["total_gross"], deposit["id"], reference="VIR-ACOMPTE")
    body = {"issue": True} if credited is None else {"issue": True, "lines": credited}
    r = api("manager").post(f"/api/v1/invoices/{final['id']}/credit-notes", json=body)
    assert r.status_code == 201, r.text
    credit = r.json()
    if deposit_paid == "after the credit note":
        pay(client_org, "2026-11-21", deposit["total_gross"], deposit["id"], reference="VIR-ACOMPTE")
    still_due = Decimal(final["amount_due"]) - Decimal(credit["total_gross"])
    if still_due > 0:
        pay(client_org, "2026-11-21", str(still_due), final["id"], reference="VIR-SOLDE")
    rows = read_fec(_fec(api, "admin").content)
    _balanced(rows)
    assert _balance_of(rows, "445800") == 0
    assert _balance_of(rows, "445710") == Decimal(final["total_vat"]) - Decimal(credit["total_vat"])
