"""Readers: the chart's reads and subscriptions, and the facades' reads and kline streams.
They read the store and the bus; whatever would start work, fetch or write they ask of the
writer side through one port (`app.supply.ports.SeriesSupply`)."""
