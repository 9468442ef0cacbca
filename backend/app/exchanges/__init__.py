"""Venue adapters, one package per exchange, behind the Protocols in `ports`.

The core (ingest, history, hub, api) knows only `ports`; `services.py` (the composition
root) builds adapters through `registry`. A new venue is a new package here."""
