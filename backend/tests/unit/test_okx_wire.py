"""What the OKX facade writes of the store's rows, against OKX's documented answers."""

from __future__ import annotations

from app.exchanges.okx.wire import open_interest_row
from app.series import UNREPORTED


def test_an_open_interest_sample_in_contracts_coins_and_usd() -> None:
    # OKX's documented row for BTC-USDT-SWAP (a contract is 0.01 BTC): ts, contracts,
    # coins, USD; the store keeps the contracts (ccxt's amount, freqtrade's) and the USD.
    sample = (1_790_550_000, 2_800_476.45, 2_800_476.45, 2_800_476.45, 2_800_476.45,
              2_360_916_466.88)  # fmt: skip
    assert open_interest_row(sample, 0.01) == [
        "1790550000000", "2800476.45", "28004.7645", "2360916466.88",
    ]  # fmt: skip


def test_what_is_not_known_is_left_empty() -> None:
    sample = (1_790_550_000, 12.5, 12.5, 12.5, 12.5, UNREPORTED)
    assert open_interest_row(sample, None) == ["1790550000000", "12.5", "", ""]
