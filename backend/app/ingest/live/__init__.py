"""Live ingest, one module per idea: the connection-attempt limit, a connection's session
and watchdog, a series' completeness, batched commits, REST catch-up, and the ingestor
that joins them for one venue's market."""

from app.ingest.live.completeness import LiveSeries
from app.ingest.live.ingestor import LiveIngestor
from app.ingest.live.options import IngestOptions

__all__ = ["IngestOptions", "LiveIngestor", "LiveSeries"]
