"""Live ingest, written once for every venue: `live/` keeps a venue's kline connections
(over its `LiveFeed`), batches closes into the CandleWriter and backfills gaps over its
`KlineRest`; `supervisor.py` decides which series are live, keyed by (exchange, market)."""
