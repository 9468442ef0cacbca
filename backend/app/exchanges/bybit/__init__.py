"""Bybit v5: spot and USDT linear perpetuals."""
