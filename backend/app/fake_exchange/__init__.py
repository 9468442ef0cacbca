"""A local Binance that speaks Binance's real REST and WebSocket protocols, for tests,
benchmarks and the offline demo."""
