"""Binance spot and USDT-M futures: frame parser, REST klines (ccxt) and market catalog."""
