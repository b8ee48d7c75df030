"""Minor units at the Stripe edge, and the idempotency key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from donations import stripe_gateway as gw


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("500", "jpy", 500),
        ("500.00", "JPY", 500),
        ("5.00", "usd", 500),
        ("0.50", "usd", 50),
        ("1000", "krw", 1000),
        ("1.25", "kwd", 1250),
        ("12.34", "eur", 1234),
    ],
)
def test_amounts_cross_the_stripe_edge_in_minor_units(amount, currency, minor):
    assert gw.to_minor(Decimal(amount), currency) == minor
    assert gw.from_minor(minor, currency) == Decimal(amount).quantize(Decimal("0.01"))


def test_an_amount_finer_than_the_currency_allows_is_refused():
    with pytest.raises(ValueError):
        gw.to_minor(Decimal("500.5"), "jpy")


def test_minimum_charge_follows_stripe_per_currency():
    assert gw.minimum_amount("jpy") == Decimal("50")
    assert gw.minimum_amount("usd") == Decimal("0.50")
    assert gw.input_decimals("jpy") == 0 and gw.input_decimals("usd") == 2


def test_the_idempotency_key_is_the_same_for_the_same_donation_only():
    a = gw.idempotency_key(donation_id=7, created_at_epoch_us=1)
    assert a == gw.idempotency_key(donation_id=7, created_at_epoch_us=1)
    assert a != gw.idempotency_key(donation_id=8, created_at_epoch_us=1)


@pytest.mark.parametrize(
    ("name", "value", "check_id"),
    [
        ("PLATFORM_FEE_PERCENT", "ten", "donations.E001"),
        ("PLATFORM_FEE_PERCENT", "150", "donations.E001"),
        ("DONATION_MAX_AMOUNT", "0", "donations.E002"),
        ("DONATION_CURRENCY", "yen!", "donations.E003"),
    ],
)
def test_a_misconfigured_donation_setting_stops_startup(settings, name, value, check_id):
    from donations.checks import check_donation_settings

    assert check_donation_settings() == []
    setattr(settings, name, value)
    assert [e.id for e in check_donation_settings()] == [check_id]
