"""A venue's public REST endpoints as its documentation states them: which host serves
each, the parameters it takes, its weight (flat, by `limit`, or without a symbol) and the
pool it is counted in. Each venue's `limits.py` lists its own; the facades forward only
what is listed, with only the parameters listed, and every request this server sends is
costed from the same table before it goes out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from app.exchanges.budget import Cost
from app.series import Market

# How the facade answers an endpoint: forwarded, forwarded and kept (a market list), from
# the store, or here.
Served = Literal["forwarded", "document", "store", "local"]


@dataclass(frozen=True, slots=True)
class Limit:
    """An endpoint's row-count parameter (`limit`, OKX's `sz`): absent, the venue's own
    default applies (`default` says what that costs); 0 or empty, `default`; past `most`,
    `most`. With `tiers`, the smallest tier at or above the count asked is fetched (it
    costs the same weight) and the answer cut to the count, so the few tiers are all a
    cache and its coalescing see."""

    default: int
    most: int
    tiers: tuple[int, ...] = ()
    name: str = "limit"

    def fetched(self, asked: int) -> int:
        return next((t for t in self.tiers if t >= asked), asked)


@dataclass(frozen=True, slots=True)
class Endpoint:
    served: Served
    market: Market  # the market whose host serves it
    pool: str
    params: frozenset[str]
    weight: float = 1.0
    # (most `limit`, weight), ascending: the weight of a request asking up to that many.
    by_limit: tuple[tuple[int, float], ...] = ()
    without_symbol: float | None = None  # the weight when no `symbol` is named (all of them)
    limit: Limit | None = None

    def cost(self, params: Mapping[str, str]) -> Cost:
        weight = self.weight
        if self.without_symbol is not None and not params.get("symbol"):
            weight = self.without_symbol
        elif self.by_limit:
            asked = _count(params.get(self.limit.name if self.limit else "limit"))
            if asked is None and self.limit is not None:
                asked = self.limit.default
            weight = next((w for most, w in self.by_limit if asked is not None and asked <= most),
                          self.by_limit[-1][1])  # fmt: skip
        return Cost(self.pool, weight)


def endpoint(
    served: Served,
    params: str = "",
    weight: float = 1.0,
    *,
    market: Market,
    pool: str,
    by_limit: tuple[tuple[int, float], ...] = (),
    without_symbol: float | None = None,
    limit: Limit | None = None,
) -> Endpoint:
    """An `Endpoint`, its parameters written as one space-separated string (a venue's table
    binds `market` and `pool` once with `functools.partial`)."""
    names = frozenset(params.split())
    return Endpoint(served, market, pool, names, weight, by_limit, without_symbol, limit)


@dataclass(frozen=True, slots=True)
class Normalised:
    """A request's parameters as forwarded (documented ones only, `limit` at its tier), and
    the row count to trim the answer to when the tier fetched is more than was asked."""

    params: tuple[tuple[str, str], ...]
    trim_to: int | None


def normalise(
    endpoint: Endpoint,
    given: Sequence[tuple[str, str]],
    refuse: Callable[[str], Exception],
) -> Normalised:
    """Only the parameters `endpoint` documents (see `documented`), its `limit` a whole
    number within range and at its tier; absent, the venue's default (it may differ by
    category)."""
    params = documented(endpoint, given, refuse)
    trim_to = None
    rule = endpoint.limit
    if rule is not None:
        raw = params.get(rule.name)
        if raw is not None:
            asked = _count(raw) if raw else rule.default
            if asked is None:
                raise refuse(f"parameter '{rule.name}' is not a whole number")
            asked = min(asked or rule.default, rule.most)  # 0: the default, as the venues
            fetched = rule.fetched(asked)
            params[rule.name] = str(fetched)
            trim_to = asked if fetched != asked else None
    return Normalised(tuple(sorted(params.items())), trim_to)


def documented(
    endpoint: Endpoint, given: Sequence[tuple[str, str]], refuse: Callable[[str], Exception]
) -> dict[str, str]:
    """`given` as a mapping, if it holds only parameters `endpoint` documents, each at most
    once; else `refuse(why)` is raised (the venue's error)."""
    params: dict[str, str] = {}
    for name, value in given:
        if name not in endpoint.params:
            raise refuse(f"parameter '{name}' is not taken by this endpoint")
        if name in params:
            raise refuse(f"parameter '{name}' was sent more than once")
        params[name] = value
    return params


def cost_of_url(
    endpoints: Mapping[str, Endpoint], url: str, fallback: Callable[[str], Cost]
) -> Cost:
    """The cost of a request this server sends (ccxt's): its endpoint found by the end of
    the URL's path (the configured base may add a prefix), else `fallback(path)`."""
    parts = urlsplit(url)
    for path, found in endpoints.items():
        if parts.path.endswith(path):
            return found.cost(dict(parse_qsl(parts.query)))
    return fallback(parts.path)


def _count(raw: str | None) -> int | None:
    if raw is None or not raw.isdigit() or len(raw) > 9:
        return None
    return int(raw)
