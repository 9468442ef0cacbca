"""The bus: what carries committed and forming candles and errors from the writer to the
fan-out, and between the processes of a cluster their demand for series, asks of the ingest
leader and its state. `ports.py` is what the core asks of it; each engine is one folder
(`memory` within one process; one per engine across processes), `factory.py` chooses."""
