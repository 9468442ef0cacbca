import { describe, expect, it } from "vitest";
import { parseSeriesId } from "../src/series";
import type { ExchangeInfo } from "../src/types";
import { Venues } from "../src/venues";

const LISTING: ExchangeInfo[] = [
  {
    exchange: "bybit",
    markets: [
      {
        market: "spot",
        timeframes: ["1m", "1h", "1w"],
        symbols: [{ symbol: "BTC/USDT", exchange_symbol: "BTCUSDT", price_tick: 0.1, amount_step: 0.0001 }],
      },
      { market: "futures", timeframes: ["1m", "2h"], symbols: [], catalog_error: "market list unavailable" },
    ],
  },
];

describe("Venues", () => {
  const venues = Venues.from(LISTING);

  it("offers a venue's timeframes only", () => {
    expect(venues.offers("bybit", "1h")).toBe(true);
    expect(venues.offers("bybit", "2h")).toBe(true); // from its futures market
    expect(venues.offers("bybit", "8h")).toBe(false);
  });

  it("rules nothing out before the server answered, or for a venue it does not name", () => {
    expect(Venues.unknown.offers("bybit", "8h")).toBe(true);
    expect(venues.offers("kraken", "8h")).toBe(true);
  });

  it("knows the tick of a listed symbol", () => {
    expect(venues.tick(parseSeriesId("bybit:spot:BTC/USDT:1m")!)).toBe(0.1);
    expect(venues.tick(parseSeriesId("bybit:futures:BTC/USDT:USDT:1m")!)).toBeNull();
  });

  it("lists names and symbols", () => {
    expect(venues.names()).toEqual(["bybit"]);
    expect(venues.symbols("bybit", "spot")).toEqual(["BTC/USDT"]);
    expect(venues.symbols("bybit", "futures")).toEqual([]);
  });
});
