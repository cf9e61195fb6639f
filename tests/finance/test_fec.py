"""The FEC export (france.md §5): format, entries of invoices, credit notes, deposits and payments,
account mapping, dates, permissions, visibility and audit."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select

from carnet.core.audit import AuditEntry
from carnet.finance import fec

from .conftest import amount, by_piece, entries, line, read_fec, sides

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
