"""Live ingest: the supervisor interface the hub calls, and (later) the Binance ingestor."""
