"""Buses across processes: what carries committed and forming candles, errors, demand for
series and the ingest leader's state between the processes of a cluster. In one process
the hub's fan-out is the bus (`app.hub.bus`); each engine here is one folder."""
