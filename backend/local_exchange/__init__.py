"""A local Binance and a local Bybit (v5) that speak the venues' real REST and WebSocket
protocols on loopback, with fault controls, for tests, benchmarks and the offline demo."""
