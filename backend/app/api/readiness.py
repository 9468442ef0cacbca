"""Whether this process serves as it should: what keeps it out of rotation (`not_ready`:
no store, no ingest supervisor), and what it serves less well than it should
(`degraded`: failing writes, a corrupt store, a skewed clock, failing whitelisted feeds,
no ingest leader...). `/ready` answers it; the metrics export it for alerts."""

from __future__ import annotations

from dataclasses import dataclass

from app.services import Services


@dataclass(frozen=True, slots=True)
class Readiness:
    not_ready: list[str]
    degraded: list[str]


def readiness_of(services: Services) -> Readiness:
    store, supply = services.store, services.supply
    not_ready = []
    if not store.is_open:
        not_ready.append("candle store is not open")
    if not supply.running:
        not_ready.append("ingest supervisor is not running")
    if not_ready:
        return Readiness(not_ready, [])
    degraded = []
    if services.cluster is not None:
        degraded.extend(services.cluster.problems())
    if store.write_error is not None:
        # Reads are still served, so the server stays in rotation; writes are retried.
        degraded.append(f"candle store writes are failing: {store.write_error}")
    if store.corruption is not None:
        degraded.append(f"candle store is corrupt: {store.corruption}")
    degraded.extend(supply.clock_problems())
    if services.write_through is not None:
        degraded.extend(services.write_through.problems())
    if services.provenance is not None:
        degraded.extend(services.provenance.problems())
    failing = supply.failing_whitelist()
    if failing:
        # Reads are served; what the whitelist promises live is not.
        shown = "; ".join(f"{k}: {why}" for k, why in sorted(failing.items())[:5])
        more = f" and {len(failing) - 5} more" if len(failing) > 5 else ""
        degraded.append(f"{len(failing)} whitelisted feed(s) failing: {shown}{more}")
    return Readiness([], degraded)
