"""trade-canvas: a market-data server for freqtrade users."""

import app.exchanges.venues  # noqa: F401  (the venues series ids may name)

__version__ = "0.1.0"
