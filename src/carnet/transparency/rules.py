"""The rules of the transparency and anti-gift regimes, as pure functions of a record and the
thresholds valid on its date. What they rely on, with sources and doubts, is written in
documentation/health-transparency.md; every amount comes from `transparency_thresholds`.

- Publication (L.1453-1, R.1453-2 ff.): an agreement is always published; a benefit when its
  amount incl. VAT reaches the `publication` threshold (10 € TTC) valid on its date. Publication
  is due on 1 September for January-June and on 1 March of the next year for July-December.
- Anti-gift (L.1453-3 ff.), for professionals, students and their associations only: a benefit
  outside any agreement is tolerated up to the `negligible` value of its nature; above, it needs an
  agreement. An agreement is declared (at the latest 8 working days before the first benefit) or,
  when a total goes beyond the `authorisation_<category>` threshold of a nature, authorised
  (requested 2 months before). The thresholds of an agreement are those valid on its signature
  date: the arrêté of 7 August 2020 applies them to the whole period of the agreement.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from carnet.transparency.models import ANTI_GIFT_CATEGORIES, ANY_NATURE

DECLARATION_WORKING_DAYS = 8
AUTHORISATION_MONTHS = 2
# Natures whose authorisation threshold applies to each benefit (the arrêté caps each meal);
# hospitality's threshold is a total covering meals, travel and stays together.
PER_UNIT_NATURES = ("meal",)
HOSPITALITY_GROUP = ("meal", "travel", "hospitality")

# Formalities an outcome may call for.
NOT_APPLICABLE = "not_applicable"  # not a beneficiary of the anti-gift regime (an establishment...)
NEGLIGIBLE = "negligible"  # a benefit of negligible value: no formality
AGREEMENT_REQUIRED = "agreement_required"  # above negligible value, outside any agreement
DECLARATION = "declaration"
AUTHORISATION = "authorisation"

DONE = {
    DECLARATION: ("declared", "authorisation_requested", "authorised"),
    AUTHORISATION: ("authorised",),
}


@dataclass(frozen=True)
class ThresholdRow:
    key: str
    nature: str
    amount: Decimal
    valid_from: date
    valid_to: date | None


class Thresholds:
    """The thresholds table in memory: `amount(key, nature, on)` is the one valid on that date,
    for that nature or else for any nature; None when there is none."""

    def __init__(self, rows: Iterable[ThresholdRow]) -> None:
        self.rows = list(rows)

    def amount(self, key: str, nature: str, on: date) -> Decimal | None:
        for wanted in (nature, ANY_NATURE):
            for row in self.rows:
                if (
                    row.key == key
                    and row.nature == wanted
                    and row.valid_from <= on
                    and (row.valid_to is None or on <= row.valid_to)
                ):
                    return row.amount
        return None


@dataclass
class Outcome:
    """What the rules say about one record. Messages are English (translated when shown)."""

    published: bool
    publication_due: date | None
    formality: str
    deadline: date | None = None
    # (English message with {placeholders}, values): translated when shown.
    reasons: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def publication_due(on: date) -> date:
    """Semester declarations: January-June by 1 September, July-December by 1 March next year."""
    return date(on.year, 9, 1) if on.month <= 6 else date(on.year + 1, 3, 1)


def working_days_before(day: date, count: int) -> date:
    """`count` working days before `day`, counting Monday-Friday: the text says "jours ouvrables"
    (Monday-Saturday), so this deadline is a little earlier, on the safe side. Public holidays
    are not taken out."""
    current = day
    while count:
        current -= timedelta(days=1)
        if current.weekday() < 5:
            count -= 1
    return current


def months_before(day: date, months: int) -> date:
    month = day.month - months
    year = day.year
    while month < 1:
        month += 12
        year -= 1
    # The 31st of a shorter month is its last day.
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def formality_deadline(formality: str, first_benefit: date) -> date | None:
    if formality == DECLARATION:
        return working_days_before(first_benefit, DECLARATION_WORKING_DAYS)
    if formality == AUTHORISATION:
        return months_before(first_benefit, AUTHORISATION_MONTHS)
    return None


@dataclass(frozen=True)
class BenefitFacts:
    granted_on: date
    nature: str
    amount: Decimal
    beneficiary_category: str


@dataclass(frozen=True)
class AgreementFacts:
    signed_on: date
    start_date: date | None
    nature: str
    amount: Decimal
    beneficiary_category: str
    formality_status: str
    declared_on: date | None
    authorisation_requested_on: date | None


def _money(value: Decimal) -> str:
    return f"{value:.2f} €"


def _status_warnings(
    outcome: Outcome, status: str, done_on: date | None, today: date, formality: str
) -> None:
    if status == "refused":
        outcome.warnings.append("Authorisation refused: the benefits must not be granted")
        return
    if formality == AUTHORISATION and status == "declared":
        outcome.warnings.append("Declared, but the amounts need an authorisation")
    if status not in DONE[formality]:
        if formality == AUTHORISATION and status == "authorisation_requested":
            outcome.warnings.append("Authorisation requested, not granted yet")
        elif formality == AUTHORISATION:
            outcome.warnings.append("Authorisation needed but none recorded")
        else:
            outcome.warnings.append("Declaration needed but none recorded")
        if outcome.deadline is not None and today > outcome.deadline:
            outcome.warnings.append("Deadline passed")
    elif outcome.deadline is not None and done_on is not None and done_on > outcome.deadline:
        outcome.warnings.append("Formality recorded after its deadline")


def agreement_outcome(
    facts: AgreementFacts, benefits: list[BenefitFacts], thresholds: Thresholds, today: date
) -> Outcome:
    """Publication and anti-gift formality of an agreement, given the benefits recorded under it."""
    on = facts.signed_on
    outcome = Outcome(
        published=True,
        publication_due=publication_due(on),
        formality=NOT_APPLICABLE,
        reasons=[("Agreements are always published", {})],
    )
    if facts.beneficiary_category not in ANTI_GIFT_CATEGORIES:
        outcome.reasons.append(("The anti-gift regime does not cover this beneficiary", {}))
        return outcome
    key = f"authorisation_{facts.beneficiary_category}"
    totals: dict[str, Decimal] = {}
    for b in benefits:
        group = "hospitality" if b.nature in HOSPITALITY_GROUP else b.nature
        totals[group] = totals.get(group, Decimal(0)) + b.amount
    stipulated = "hospitality" if facts.nature in HOSPITALITY_GROUP else facts.nature
    totals[stipulated] = max(totals.get(stipulated, Decimal(0)), Decimal(facts.amount))
    above: list[tuple[str, dict[str, str]]] = []
    for group, total in sorted(totals.items()):
        limit = thresholds.amount(key, group, on)
        if limit is not None and total > limit:
            above.append(
                (
                    "{nature}: {amount} above {limit}",
                    {"nature": group, "amount": _money(total), "limit": _money(limit)},
                )
            )
    meal_limit = thresholds.amount(key, "meal", on)
    for b in benefits:
        if b.nature in PER_UNIT_NATURES and meal_limit is not None and b.amount > meal_limit:
            above.append(
                (
                    "Meal of {date}: {amount} above {limit}",
                    {
                        "date": b.granted_on.isoformat(),
                        "amount": _money(b.amount),
                        "limit": _money(meal_limit),
                    },
                )
            )
    outcome.formality = AUTHORISATION if above else DECLARATION
    outcome.reasons += above or [("Amounts within the authorisation thresholds: a declaration is enough", {})]
    first = min((b.granted_on for b in benefits), default=None) or facts.start_date or facts.signed_on
    outcome.deadline = formality_deadline(outcome.formality, first)
    done_on = facts.declared_on if outcome.formality == DECLARATION else facts.authorisation_requested_on
    _status_warnings(outcome, facts.formality_status, done_on, today, outcome.formality)
    return outcome


def benefit_outcome(
    facts: BenefitFacts,
    thresholds: Thresholds,
    today: date,
    agreement: Outcome | None = None,
) -> Outcome:
    """Publication of a benefit, and its anti-gift formality: its agreement's when it has one."""
    on = facts.granted_on
    limit = thresholds.amount("publication", facts.nature, on)
    published = limit is None or facts.amount >= limit
    outcome = Outcome(
        published=published,
        publication_due=publication_due(on) if published else None,
        formality=NOT_APPLICABLE,
    )
    if limit is None:
        outcome.reasons.append(("No publication threshold on this date: published", {}))
    else:
        values = {"amount": _money(facts.amount), "limit": _money(limit)}
        outcome.reasons.append(
            ("{amount} reaches {limit}: published", values)
            if published
            else ("{amount} is below {limit}: not published", values)
        )
    if facts.beneficiary_category not in ANTI_GIFT_CATEGORIES:
        outcome.reasons.append(("The anti-gift regime does not cover this beneficiary", {}))
        return outcome
    if agreement is not None:
        outcome.formality = agreement.formality
        outcome.deadline = agreement.deadline
        outcome.reasons.append(("Under an agreement: its formality applies", {}))
        outcome.warnings += agreement.warnings
        return outcome
    negligible = thresholds.amount("negligible", facts.nature, on)
    if negligible is not None and facts.amount <= negligible:
        outcome.formality = NEGLIGIBLE
        outcome.reasons.append(
            (
                "{amount} within {limit}: negligible value",
                {"amount": _money(facts.amount), "limit": _money(negligible)},
            )
        )
    else:
        outcome.formality = AGREEMENT_REQUIRED
        outcome.warnings.append("Above the negligible value: this benefit needs an agreement")
    return outcome
