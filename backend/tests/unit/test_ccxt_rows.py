"""ccxt's answers for a contract's derived kinds, as rows of the store's shape (issue 36):
what the venue did not send is said, garbage is a `FrameError`, never a made-up row."""

from __future__ import annotations

import pytest

from app.exchanges.ccxt_rest import derived_rows, funding_rows, open_interest_rows
from app.exchanges.ports import FrameError
from app.series import UNREPORTED

T = 1_700_006_400_000  # an hour's open, in ms


def test_price_klines_get_a_zero_volume_and_garbage_is_refused() -> None:
    assert derived_rows([[T, "1.5", 2, 1, "1.75", None]]) == [[T, 1.5, 2.0, 1.0, 1.75, 0.0]]
    for bad in ({"rows": 1}, [[T, "x", 1, 1, 1]], [[T, 1, 1]], [None]):
        with pytest.raises(FrameError):
            derived_rows(bad)


def test_funding_rates_are_flat_rows_at_the_hour_they_were_paid() -> None:
    rates = [
        {"timestamp": T + 4, "fundingRate": -0.0001},  # stamped a few ms late
        {"timestamp": T + 28_800_000, "fundingRate": "0.0002"},
    ]
    assert funding_rows(rates, "1h") == [
        [T, -0.0001, -0.0001, -0.0001, -0.0001, 0.0],
        [T + 28_800_000, 0.0002, 0.0002, 0.0002, 0.0002, 0.0],
    ]
    unstamped = [{"timestamp": "t", "fundingRate": 1}]
    for bad in ("rates", [{"timestamp": T}], [{"fundingRate": 0.1}], unstamped):
        with pytest.raises(FrameError):
            funding_rows(bad, "1h")


def test_open_interest_says_what_the_venue_did_not_report() -> None:
    samples = [
        {"timestamp": T, "openInterestAmount": 12.5, "openInterestValue": 400.0},
        {"timestamp": T + 300_000, "openInterestAmount": "13", "openInterestValue": None},
    ]
    assert open_interest_rows(samples, "5m") == [
        [T, 12.5, 12.5, 12.5, 12.5, 400.0],
        [T + 300_000, 13.0, 13.0, 13.0, 13.0, UNREPORTED],
    ]
    nothing = [{"timestamp": T, "openInterestAmount": None, "openInterestValue": None}]
    for bad in (nothing, [{"openInterestAmount": 1}], [[T, 1, 2]], {"data": []}):
        with pytest.raises(FrameError):
            open_interest_rows(bad, "5m")
