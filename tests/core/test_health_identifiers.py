"""FINESS and RPPS numbers: format and key (documentation/health-transparency.md, "Identifiers")."""

from __future__ import annotations

import pytest

from carnet.core.errors import FieldErrors
from carnet.core.identifiers import clean_finess, clean_rpps


def _finess(value: str) -> tuple[str | None, list[str]]:
    errors = FieldErrors()
    return clean_finess(value, errors), [e.code for e in errors.errors]


@pytest.mark.parametrize("number", ["750712184", "950000364", " 750 712 184 ", "970421038"])
def test_published_finess_numbers_are_valid(number: str) -> None:
    assert _finess(number) == (number.replace(" ", ""), [])


def test_a_changed_last_digit_fails_the_key() -> None:
    assert _finess("750712185") == (None, ["invalid_finess_key"])
    assert _finess("950000365") == (None, ["invalid_finess_key"])


@pytest.mark.parametrize(
    "number",
    ["75071218", "7507121840", "ABCDEFGHI", "000000000", "960000000", "200000000", "9A0000000", "750X1218"],
)
def test_bad_format_or_departement_is_refused(number: str) -> None:
    assert _finess(number) == (None, ["invalid_finess"])


def test_corsican_numbers_are_checked_for_format_only() -> None:
    # No public rule says how the key reads the letter: the format is checked, not the key.
    assert _finess("2A0000000") == ("2A0000000", [])
    assert _finess("2b0001234") == ("2B0001234", [])


@pytest.mark.parametrize("number", ["10003879623", "10005173140", "100 0387 9623"])
def test_valid_rpps(number: str) -> None:
    errors = FieldErrors()
    assert clean_rpps(number, errors) == number.replace(" ", "") and not errors


def test_rpps_failing_luhn_is_a_field_error() -> None:
    errors = FieldErrors()
    assert clean_rpps("10101201234", errors) is None
    assert [(e.field, e.code) for e in errors.errors] == [("rpps", "invalid_rpps_key")]


def test_rpps_with_a_bad_length_is_a_format_error() -> None:
    errors = FieldErrors()
    assert clean_rpps("1000387962", errors) is None
    assert [e.code for e in errors.errors] == ["invalid_rpps"]
