"""Phone numbers: French numbers written nationally are read without the general parser, with
exactly its result (the stored E.164 form, or the same field error)."""

from __future__ import annotations

import random

import phonenumbers
import pytest

from carnet.core.errors import FieldErrors
from carnet.core.identifiers import clean_phone


def _clean(value: str) -> tuple[str | None, list[str]]:
    errors = FieldErrors()
    return clean_phone(value, errors, "phones.0"), [e.code for e in errors.errors]


def _general_parser(value: str) -> tuple[str | None, list[str]]:
    try:
        parsed = phonenumbers.parse(value, "FR")
    except phonenumbers.NumberParseException:
        return None, ["invalid_phone"]
    if not phonenumbers.is_valid_number(parsed):
        return None, ["invalid_phone"]
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("06.12.34.56.78", "+33612345678"),
        ("0612345678", "+33612345678"),
        (" 01-42-68-53-00 ", "+33142685300"),
        ("09 70 12 34 56", "+33970123456"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+32 2 555 12 12", "+3225551212"),
    ],
)
def test_numbers_are_stored_in_e164(value: str, expected: str) -> None:
    assert _clean(value) == (expected, [])


@pytest.mark.parametrize(
    "value", ["06 39 00 00 27", "00 12 34 56 78", "06 12 34 56", "06 12 34 56 78 9", "bonjour"]
)
def test_numbers_that_do_not_exist_are_refused(value: str) -> None:
    assert _clean(value) == (None, ["invalid_phone"])


def test_every_french_prefix_reads_as_the_general_parser_reads_it() -> None:
    rng = random.Random(2026)
    for prefix in range(100):
        for _ in range(20):
            digits = f"0{prefix:02d}{rng.randrange(10**7):07d}"
            for separator in ("", " ", ".", "-"):
                value = separator.join(digits[i : i + 2] for i in range(0, 10, 2))
                assert _clean(value) == _general_parser(value), value
