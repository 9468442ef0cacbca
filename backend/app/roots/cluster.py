"""How a process joins a cluster: the bus, and the leader asked for what only it does."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Final

from app.clock import Clock
from app.cluster.node import ClusterNode
from app.config import Settings
from app.metrics import Metrics
from app.roots.core import Hub
from app.supply.remote import RemoteSupply

# How long a process waits for the leader to do what it asked (a fetch, a correction).
LEADER_WORK_TIMEOUT_S: Final = 30.0


async def join_cluster(
    stack: AsyncExitStack, settings: Settings, metrics: Metrics, hub: Hub, clock: Clock
) -> tuple[ClusterNode, RemoteSupply]:
    """Reach the bus, feed this process's clients from it (every process's commits go out
    on the bus, and each process feeds its clients from the bus alone), and ask the leader
    for what only it does."""
    node = await ClusterNode.connect(settings, metrics, clock)
    stack.push_async_callback(node.bus.close)
    demand = await node.join(hub.local, hub.locks)
    remote = RemoteSupply(
        node.bus.ask, demand, has_history=settings.market_history_source != "off",
        timeout_s=LEADER_WORK_TIMEOUT_S,
        # An import on the leader may take its whole wait before it answers.
        history_timeout_s=max(LEADER_WORK_TIMEOUT_S, settings.history.wait_s + 10),
    )  # fmt: skip
    return node, remote
