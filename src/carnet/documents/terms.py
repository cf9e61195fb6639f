"""Payment terms and due dates within the legal maxima (Code de commerce L441-10, france.md §1.4).

- on receipt: due on the issue date;
- 30 days: issue date + 30 days (also the default when nothing is agreed);
- 45 days end of month: method A (end of the invoice month, then + 45 days), which is the strict
  reading of the law; method B (+ 45 days then end of month) gives a later date and is not used;
- 60 days: issue date + 60 days, the agreed maximum.
Periodic invoices (CGI 289 I-3) are capped at 45 days from the issue date, and public hospitals
must pay within 50 days (CCP R2192-11, france.md §9.4): a longer term is brought back to that cap.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from carnet.core.errors import ValidationFailed

ON_RECEIPT, DAYS_30, DAYS_45_EOM, DAYS_60 = "on_receipt", "30_days", "45_days_eom", "60_days"
TERMS = (ON_RECEIPT, DAYS_30, DAYS_45_EOM, DAYS_60)
DEFAULT_TERMS = DAYS_30
LABELS = {
    ON_RECEIPT: "On receipt",
    DAYS_30: "30 days",
    DAYS_45_EOM: "45 days end of month",
    DAYS_60: "60 days",
}
# The wording printed on documents (French legal documents are written in French).
FRENCH_LABELS = {
    ON_RECEIPT: "à réception",
    DAYS_30: "30 jours à compter de la date de facture",
    DAYS_45_EOM: "45 jours fin de mois",
    DAYS_60: "60 jours à compter de la date de facture",
}
LEGAL_MAX_DAYS = 60
PERIODIC_MAX_DAYS = 45
PUBLIC_HOSPITAL_MAX_DAYS = 50


def end_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def clean_terms(raw: object, field: str = "payment_terms") -> str:
    if raw not in TERMS:
        raise ValidationFailed.on(
            field,
            "Choose payment terms: on receipt, 30 days, 45 days end of month or 60 days",
            "invalid_choice",
        )
    return str(raw)


def legal_limit(
    issue_date: date, terms: str, *, public_hospital: bool = False, periodic: bool = False
) -> date:
    """The latest due date the law allows for these terms."""
    if terms == DAYS_45_EOM:
        limit = end_of_month(issue_date) + timedelta(days=45)  # method A
    else:
        limit = issue_date + timedelta(days=LEGAL_MAX_DAYS)
    if periodic:
        limit = min(limit, issue_date + timedelta(days=PERIODIC_MAX_DAYS))
    if public_hospital:
        limit = min(limit, issue_date + timedelta(days=PUBLIC_HOSPITAL_MAX_DAYS))
    return limit


def due_date(issue_date: date, terms: str, public_hospital: bool = False, periodic: bool = False) -> date:
    """The due date of a document issued on `issue_date`, never beyond the legal maxima."""
    clean_terms(terms)
    if terms == ON_RECEIPT:
        due = issue_date
    elif terms == DAYS_30:
        due = issue_date + timedelta(days=30)
    elif terms == DAYS_45_EOM:
        due = end_of_month(issue_date) + timedelta(days=45)
    else:
        due = issue_date + timedelta(days=60)
    return min(due, legal_limit(issue_date, terms, public_hospital=public_hospital, periodic=periodic))
