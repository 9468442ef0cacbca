"""trade-canvas: a market-data server for freqtrade users."""

__version__ = "0.1.0"
