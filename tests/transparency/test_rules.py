"""The transparency and anti-gift rules, on dated thresholds (pure functions)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from carnet.transparency import rules
from carnet.transparency.rules import AgreementFacts, BenefitFacts, ThresholdRow, Thresholds

D = Decimal
TODAY = date(2026, 1, 15)
THRESHOLDS = Thresholds(
    [
        ThresholdRow("publication", "any", D("10.00"), date(2013, 1, 1), None),
        # The negligible value of a meal changes on 1 March 2026 in this test.
        ThresholdRow("negligible", "meal", D("30.00"), date(2020, 10, 1), date(2026, 2, 28)),
        ThresholdRow("negligible", "meal", D("25.00"), date(2026, 3, 1), None),
        ThresholdRow("authorisation_health_professional", "fee", D("2000.00"), date(2020, 10, 1), None),
        ThresholdRow(
            "authorisation_health_professional", "hospitality", D("2000.00"), date(2020, 10, 1), None
        ),
        ThresholdRow("authorisation_health_professional", "meal", D("50.00"), date(2020, 10, 1), None),
    ]
)


def _benefit(
    amount: str, on: date = date(2026, 1, 10), nature: str = "meal", who: str = "health_professional"
):
    return BenefitFacts(on, nature, D(amount), who)


def _agreement(amount: str = "0", nature: str = "fee", status: str = "not_required", **dates):
    return AgreementFacts(
        date(2026, 1, 5),
        dates.get("start"),
        nature,
        D(amount),
        "health_professional",
        status,
        dates.get("declared_on"),
        dates.get("requested_on"),
    )


def test_publication_from_ten_euros_incl_vat() -> None:
    assert rules.benefit_outcome(_benefit("9.99"), THRESHOLDS, TODAY).published is False
    outcome = rules.benefit_outcome(_benefit("10.00"), THRESHOLDS, TODAY)
    assert outcome.published is True and outcome.publication_due == date(2026, 9, 1)
    later = rules.benefit_outcome(_benefit("10.00", on=date(2026, 7, 1)), THRESHOLDS, TODAY)
    assert later.publication_due == date(2027, 3, 1)


def test_the_threshold_valid_on_the_benefit_date_applies() -> None:
    before = rules.benefit_outcome(_benefit("28.00", on=date(2026, 2, 28)), THRESHOLDS, TODAY)
    after = rules.benefit_outcome(_benefit("28.00", on=date(2026, 3, 1)), THRESHOLDS, TODAY)
    assert before.formality == rules.NEGLIGIBLE and before.warnings == []
    assert after.formality == rules.AGREEMENT_REQUIRED
    assert after.warnings == ["Above the negligible value: this benefit needs an agreement"]


def test_establishments_are_outside_the_anti_gift_regime() -> None:
    outcome = rules.benefit_outcome(_benefit("500.00", who="establishment"), THRESHOLDS, TODAY)
    assert (outcome.published, outcome.formality, outcome.warnings) == (True, rules.NOT_APPLICABLE, [])


def test_agreement_below_thresholds_is_declared_8_working_days_before() -> None:
    # First benefit on Monday 26 January 2026: 8 working days before is Wednesday 14 January.
    outcome = rules.agreement_outcome(_agreement("1500.00", start=date(2026, 1, 26)), [], THRESHOLDS, TODAY)
    assert outcome.formality == rules.DECLARATION
    assert outcome.deadline == date(2026, 1, 14)
    assert outcome.warnings == ["Declaration needed but none recorded", "Deadline passed"]
    done = rules.agreement_outcome(
        _agreement("1500.00", status="declared", start=date(2026, 1, 26), declared_on=date(2026, 1, 12)),
        [],
        THRESHOLDS,
        TODAY,
    )
    assert done.warnings == []


def test_agreement_above_the_fee_threshold_needs_an_authorisation_two_months_before() -> None:
    outcome = rules.agreement_outcome(_agreement("2500.00", start=date(2026, 4, 30)), [], THRESHOLDS, TODAY)
    assert outcome.formality == rules.AUTHORISATION
    assert outcome.deadline == date(2026, 2, 28)
    assert outcome.warnings == ["Authorisation needed but none recorded"]
    assert outcome.reasons[1] == (
        "{nature}: {amount} above {limit}",
        {"nature": "fee", "amount": "2500.00 €", "limit": "2000.00 €"},
    )


def test_hospitality_total_counts_meals_travel_and_stays_and_each_meal_is_capped() -> None:
    benefits = [
        _benefit("800.00", on=date(2026, 5, 4), nature="travel"),
        _benefit("1150.00", on=date(2026, 5, 4), nature="hospitality"),
        _benefit("45.00", on=date(2026, 5, 5), nature="meal"),
    ]
    outcome = rules.agreement_outcome(_agreement("0", nature="hospitality"), benefits, THRESHOLDS, TODAY)
    assert outcome.formality == rules.DECLARATION  # 1995 € ≤ 2000 €, meal 45 € ≤ 50 €
    benefits.append(_benefit("60.00", on=date(2026, 5, 6), nature="meal"))
    outcome = rules.agreement_outcome(_agreement("0", nature="hospitality"), benefits, THRESHOLDS, TODAY)
    assert outcome.formality == rules.AUTHORISATION
    assert [r[0] for r in outcome.reasons[1:]] == [
        "{nature}: {amount} above {limit}",
        "Meal of {date}: {amount} above {limit}",
    ]


def test_a_refused_authorisation_is_a_warning() -> None:
    outcome = rules.agreement_outcome(_agreement("2500.00", status="refused"), [], THRESHOLDS, TODAY)
    assert outcome.warnings == ["Authorisation refused: the benefits must not be granted"]


def test_working_days_and_months() -> None:
    assert rules.working_days_before(date(2026, 1, 19), 1) == date(2026, 1, 16)  # Monday -> Friday
    assert rules.months_before(date(2026, 4, 30), 2) == date(2026, 2, 28)
    assert rules.months_before(date(2026, 1, 31), 2) == date(2025, 11, 30)
