from datetime import date

import pytest

from carnet.core.errors import ValidationFailed
from carnet.documents import terms


def test_due_dates():
    issued = date(2026, 1, 15)
    assert terms.due_date(issued, "on_receipt") == date(2026, 1, 15)
    assert terms.due_date(issued, "30_days") == date(2026, 2, 14)
    assert terms.due_date(issued, "60_days") == date(2026, 3, 16)  # france.md §1.4 worked example
    assert terms.due_date(issued, "45_days_eom") == date(2026, 3, 17)  # method A, not B (03-31)


def test_public_hospitals_pay_within_50_days():
    issued = date(2026, 1, 15)
    assert terms.due_date(issued, "60_days", public_hospital=True) == date(2026, 3, 6)
    assert terms.due_date(issued, "45_days_eom", public_hospital=True) == date(2026, 3, 6)
    assert terms.due_date(issued, "30_days", public_hospital=True) == date(2026, 2, 14)


def test_periodic_invoices_are_capped_at_45_days():
    assert terms.due_date(date(2026, 1, 15), "60_days", periodic=True) == date(2026, 3, 1)


def test_end_of_month_terms_across_years_and_leap_days():
    assert terms.due_date(date(2027, 12, 20), "45_days_eom") == date(2028, 2, 14)
    assert terms.due_date(date(2028, 1, 31), "45_days_eom") == date(2028, 3, 16)


def test_unknown_terms_are_refused():
    with pytest.raises(ValidationFailed):
        terms.due_date(date(2026, 1, 1), "90_days")
