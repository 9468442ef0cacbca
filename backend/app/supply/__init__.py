"""The writer side as readers see it: one port (`SeriesSupply`) through which the chart's
reads, subscriptions and the facades ask for a series to be made servable (held live,
its history imported, what the store lacks fetched, its forming candle, a correction),
and its two implementations: `local` (this process's supervisor, history, venues and
writer) and `remote` (the same calls asked of the ingest leader over the bus)."""
