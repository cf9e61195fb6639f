"""Tests of the deterministic French demo-data generators."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import phonenumbers
import pytest
from email_validator import validate_email
from stdnum import luhn
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret
from stdnum.fr import tva as stdnum_tva

from carnet.demo.generators import (
    CITIES,
    FrenchDataGenerator,
    _luhn_key_fallback,
    ascii_fold,
    departement_for_postal_code,
    luhn_key,
    phone_zone_for_postal_code,
)

KINDS = ("call", "email", "meeting", "visit", "note")
HOSTNAME = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.(?:fr|com)$")


def test_siren_siret_vat_are_valid_and_sirens_unique() -> None:
    gen = FrenchDataGenerator(seed=1)
    sirens = [gen.siren() for _ in range(2000)]
    assert len(set(sirens)) == 2000
    for number in sirens:
        assert stdnum_siren.is_valid(number), number
        assert number[0] in "3456789"
        assert number != "356000000"
        siret = gen.siret(number)
        assert len(siret) == 14 and siret.startswith(number)
        assert stdnum_siret.is_valid(siret), siret
        vat = gen.vat_number(number)
        assert vat.startswith("FR") and vat.endswith(number)
        assert stdnum_tva.is_valid(vat), vat


def test_siret_for_several_establishments() -> None:
    gen = FrenchDataGenerator(seed=2)
    siren = gen.siren()
    sirets = [gen.siret(siren, establishment) for establishment in (0, 1, 2, 17, 250, 9999)]
    assert len(set(sirets)) == len(sirets)
    assert all(stdnum_siret.is_valid(s) for s in sirets)
    with pytest.raises(ValueError):
        gen.siret(siren, 10_000)
    with pytest.raises(ValueError):
        gen.siret("356000000")


def test_luhn_key_matches_stdnum_and_fallback() -> None:
    for digits in ("1", "12345678", "732829320", "1012345678", "0000", "99999999999"):
        key = luhn_key(digits)
        assert key == _luhn_key_fallback(digits)
        assert luhn.is_valid(digits + key)


def test_phones_are_valid_e164() -> None:
    gen = FrenchDataGenerator(seed=3)
    for _ in range(500):
        mobile = gen.mobile_phone()
        assert re.fullmatch(r"\+33[67]\d{8}", mobile), mobile
        parsed = phonenumbers.parse(mobile)
        assert phonenumbers.is_valid_number(parsed), mobile
        assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE

        postal_code = gen.address()["postal_code"]
        landline = gen.landline_phone(postal_code)
        assert re.fullmatch(r"\+33[1-5]\d{8}", landline), landline
        parsed = phonenumbers.parse(landline)
        assert phonenumbers.is_valid_number(parsed), landline
        assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.FIXED_LINE
        assert landline[3] == phone_zone_for_postal_code(postal_code)


@pytest.mark.parametrize(
    ("postal_code", "zone"),
    [
        ("75008", "1"),
        ("92100", "1"),
        ("29200", "2"),
        ("44000", "2"),
        ("67000", "3"),
        ("59000", "3"),
        ("13001", "4"),
        ("69003", "4"),
        ("20000", "4"),
        ("33000", "5"),
        ("31000", "5"),
    ],
)
def test_landline_zone_matches_region(postal_code: str, zone: str) -> None:
    gen = FrenchDataGenerator(seed=4)
    assert gen.landline_phone(postal_code).startswith("+33" + zone)


def test_emails_are_ascii_and_valid() -> None:
    gen = FrenchDataGenerator(seed=5)
    emails = []
    for _ in range(500):
        person = gen.person()
        domain = gen.domain_for(gen.company_name())
        assert HOSTNAME.match(domain), domain
        emails.append(gen.email(person["first_name"], person["last_name"], domain))
    emails.append(gen.email("Marie-Hélène", "D'Almeida", "durand-fils.fr"))
    emails.append(gen.email("Loïc", "Le Gall", "atelier-des-alpes.fr"))
    emails.append(gen.email("Lætitia", "Da Silva", "example.fr"))
    for address in emails:
        assert address.isascii() and address == address.lower(), address
        assert " " not in address and "'" not in address
        validate_email(address, check_deliverability=False)
    assert gen.email("Marie-Hélène", "D'Almeida", "durand-fils.fr") == "marie-helene.dalmeida@durand-fils.fr"
    assert gen.email("Lætitia", "Da Silva", "example.fr") == "laetitia.dasilva@example.fr"


def test_domain_and_website() -> None:
    gen = FrenchDataGenerator()
    assert gen.domain_for("Martin & Fils") in {"martin-fils.fr", "martin-fils.com"}
    assert gen.domain_for("Transports Moreau SAS").startswith("transports-moreau.")
    assert gen.website("martin-fils.fr") == "https://www.martin-fils.fr"
    url = gen.linkedin_url("Hélène", "Le Gall")
    assert url.startswith("https://www.linkedin.com/in/helene-le-gall") and url.isascii()


def test_addresses() -> None:
    gen = FrenchDataGenerator(seed=6)
    cities = set()
    for _ in range(2000):
        address = gen.address()
        assert set(address) == {"line1", "line2", "postal_code", "city", "country"}
        assert re.fullmatch(r"\d{5}", address["postal_code"]), address
        assert address["country"] == "FR"
        assert address["line1"] and address["city"]
        departement_for_postal_code(address["postal_code"])
        cities.add(address["city"])
    assert len(cities) >= 80
    assert len({city for _, city, _ in CITIES}) >= 80
    assert ("20000", "Ajaccio") in {(pc, city) for pc, city, _ in CITIES}
    assert departement_for_postal_code("20000") == "2A"
    assert departement_for_postal_code("20200") == "2B"
    assert departement_for_postal_code("75011") == "75"


def test_same_seed_same_output() -> None:
    def sample(seed: int) -> list[object]:
        gen = FrenchDataGenerator(seed)
        out: list[object] = []
        for _ in range(50):
            out.append(gen.company(years=[2023, 2024]))
            out.append(gen.contact("example.fr", "69003"))
            out.append(gen.hospital_name("Lyon"))
            out.append(gen.deal_title("Durand & Fils"))
            out.append(gen.lost_reason())
            out.append(gen.task_title())
            out.append(gen.rpps())
            out.append(gen.finess("69"))
            out.append(gen.linkedin_url("Jean", "Dupont"))
            out.extend((gen.activity_subject(k), gen.activity_body(k)) for k in KINDS)
        return out

    assert sample(42) == sample(42)
    assert sample(42) != sample(43)


def test_naf_codes_and_legal_forms() -> None:
    gen = FrenchDataGenerator(seed=7)
    for _ in range(500):
        code, label = gen.naf_code()
        assert re.fullmatch(r"\d{2}\.\d{2}[A-Z]", code), code
        assert label
    forms = {gen.legal_form() for _ in range(2000)}
    assert forms <= {"SAS", "SASU", "SARL", "EURL", "SA", "SCI", "SNC", "EI", "Association loi 1901"}
    assert {"SAS", "SARL"} <= forms


def test_health_identifiers() -> None:
    gen = FrenchDataGenerator(seed=8)
    for _ in range(1000):
        rpps = gen.rpps()
        assert len(rpps) == 11 and rpps.startswith("10") and rpps.isdigit()
        assert luhn.is_valid(rpps), rpps
    for dept in ("75", "13", "01", "69", "971"):
        finess = gen.finess(dept)
        assert len(finess) == 9 and finess.startswith(dept) and finess.isdigit()
        assert luhn.is_valid(finess), finess
    corsica = gen.finess("2A")
    assert len(corsica) == 9 and corsica.startswith("2A")
    assert gen.hospital_name("Angers")
    le_mans = {gen.hospital_name("Le Mans") for _ in range(200)}
    assert any(name.endswith(" du Mans") for name in le_mans)
    assert not any("de Le Mans" in name for name in le_mans)
    assert any(name.endswith("d'Angers") for name in (gen.hospital_name("Angers") for _ in range(200)))


def test_company_names_varied_and_accented() -> None:
    gen = FrenchDataGenerator(seed=9)
    names = [gen.company_name() for _ in range(20_000)]
    assert len(set(names)) / len(names) > 0.99
    accented = sum(1 for name in names if ascii_fold(name) != name)
    assert accented / len(names) > 0.2


def test_people() -> None:
    gen = FrenchDataGenerator(seed=10)
    for _ in range(500):
        person = gen.person()
        assert person["civility"] in {"M.", "Mme"}
        assert person["first_name"] and person["last_name"] and person["job_title"]
    health = gen.person(health=True)
    assert health["job_title"]


def test_headcount_and_revenue() -> None:
    gen = FrenchDataGenerator(seed=11)
    years = [2021, 2022, 2023, 2024]
    brackets = set()
    for _ in range(2000):
        bracket, staff = gen.headcount()
        brackets.add(bracket)
        if bracket == "0":
            assert staff == 0
        elif bracket == "5000+":
            assert staff >= 5000
        else:
            low, high = (int(x) for x in bracket.split("-"))
            assert low <= staff <= high
        history = gen.revenue_history(staff, years)
        assert list(history) == years
        for value in history.values():
            assert isinstance(value, Decimal) and value.as_tuple().exponent == 0 and value > 0
        if staff:
            assert 80_000 <= history[2021] / staff <= 200_000
    assert {"0", "1-2", "3-5", "10-19"} <= brackets


def test_activities_tasks_sources() -> None:
    gen = FrenchDataGenerator(seed=12)
    for kind in KINDS:
        subjects = {gen.activity_subject(kind) for _ in range(100)}
        bodies = {gen.activity_body(kind) for _ in range(100)}
        assert len(subjects) > 5 and len(bodies) > 20
        assert all("{" not in text for text in subjects | bodies)
    with pytest.raises(ValueError):
        gen.activity_subject("fax")
    assert gen.task_title()
    sources = {gen.source() for _ in range(1000)}
    expected = {"Site web", "Salon", "Recommandation", "Prospection", "LinkedIn", "Appel entrant"}
    expected.add("Partenaire")
    assert sources == expected
    assert {gen.lost_reason() for _ in range(1000)} >= {
        "Prix trop élevé",
        "Choix d'un concurrent",
        "Projet abandonné",
        "Pas de budget",
        "Pas de réponse",
    }


def test_contacts_are_fast() -> None:
    gen = FrenchDataGenerator(seed=13)
    start = time.perf_counter()
    for _ in range(50_000):
        gen.contact("example.fr", "44000")
    # ~0.2 s on a laptop; the bound is generous to stay robust on slow CI machines.
    assert time.perf_counter() - start < 10


def test_generated_finess_and_rpps_pass_the_strict_checks() -> None:
    from carnet.core.errors import FieldErrors
    from carnet.core.identifiers import clean_finess, clean_rpps

    gen = FrenchDataGenerator(seed=11)
    errors = FieldErrors()
    for dept in ("01", "13", "2A", "2B", "69", "75", "95", "971", "974", "976"):
        for _ in range(50):
            number = gen.finess(dept)
            assert clean_finess(number, errors) == number
    for _ in range(200):
        number = gen.rpps()
        assert clean_rpps(number, errors) == number
    assert not errors


def test_demo_establishments_get_a_category_and_a_status() -> None:
    from carnet.demo.loader import establishment_kind

    assert establishment_kind("CHU d'Angers") == ("chu", "public")
    assert establishment_kind("Centre hospitalier intercommunal du Mans") == ("ch", "public")
    assert establishment_kind("Clinique Saint-Joseph") == ("clinic", "private_for_profit")
    assert establishment_kind("EHPAD Les Tilleuls") == ("ehpad", "private_non_profit")
    assert establishment_kind("Centre de rééducation de Lyon") == ("other", "private_non_profit")
