import { describe, expect, it } from "vitest";
import { parseSeriesId } from "../src/series";
import type { ExchangeInfo, SeriesInfo } from "../src/types";
import { resolveSymbol, UserData } from "../src/userData";
import { Venues } from "../src/venues";

/** An entry of `GET /api/market/series` as the server sends it, with `fields` set. */
function seriesEntry(series_id: string, fields: Partial<SeriesInfo>): SeriesInfo {
  const id = parseSeriesId(series_id);
  if (!id) throw new Error(`not a series id: ${series_id}`);
  return {
    series_id,
    exchange: id.exchange,
    market: id.market,
    symbol: id.symbol,
    timeframe: id.timeframe,
    first_time: null,
    head_time: null,
    count: 0,
    hole_count: 0,
    live: false,
    ...fields,
  };
}

const LISTING: ExchangeInfo[] = [
  {
    exchange: "bybit",
    title: "Bybit",
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

  it("titles a venue as the server writes it, else capitalised", () => {
    const okx = Venues.from([{ exchange: "okx", title: "OKX", markets: [] }]);
    expect(okx.title("okx")).toBe("OKX");
    expect(venues.title("bybit")).toBe("Bybit"); // a server that sends no title
  });
});

describe("resolveSymbol", () => {
  const binance = Venues.from([
    {
      exchange: "binance",
      title: "Binance",
      markets: [
        {
          market: "spot",
          timeframes: ["1m"],
          symbols: [
            { symbol: "ETH/BTC", exchange_symbol: "ETHBTC", price_tick: 0.00001, amount_step: 0.0001 },
            { symbol: "BTC/USDT", exchange_symbol: "BTCUSDT", price_tick: 0.01, amount_step: 0.00001 },
          ],
        },
        {
          market: "futures",
          timeframes: ["1m"],
          symbols: [{ symbol: "BTC/USDT:USDT", exchange_symbol: "BTCUSDT", price_tick: 0.1, amount_step: 0.001 }],
        },
      ],
    },
  ]);
  const none = UserData.none;

  it("switches to the market that lists a pair the other does not", () => {
    expect(resolveSymbol("ETH/BTC", "binance", "futures", binance, none)).toEqual({ market: "spot", symbol: "ETH/BTC" });
    expect(resolveSymbol("BTC/USDT:USDT", "binance", "spot", binance, none)).toEqual({
      market: "futures",
      symbol: "BTC/USDT:USDT",
    });
  });

  it("takes the venue's own symbol and lower case, in the chosen market first", () => {
    expect(resolveSymbol("ethbtc", "binance", "futures", binance, none)).toEqual({ market: "spot", symbol: "ETH/BTC" });
    expect(resolveSymbol("btcusdt", "binance", "futures", binance, none)).toEqual({
      market: "futures",
      symbol: "BTC/USDT:USDT",
    });
    expect(resolveSymbol(" btc/usdt ", "binance", "spot", binance, none)).toEqual({ market: "spot", symbol: "BTC/USDT" });
  });

  it("knows the user's own pairs the venue does not list, and keeps the market otherwise", () => {
    const mine = UserData.from([
      seriesEntry("binance:spot:UNITTEST/BTC:5m", { first_time: 1, head_time: 2, count: 2 }),
    ]);
    expect(resolveSymbol("unittest/btc", "binance", "futures", binance, mine)).toEqual({
      market: "spot",
      symbol: "UNITTEST/BTC",
    });
    expect(resolveSymbol("NEW/USDT", "binance", "futures", binance, none)).toEqual({
      market: "futures",
      symbol: "NEW/USDT:USDT",
    });
  });
});

describe("UserData.preferred", () => {
  const entry = (series_id: string, count: number, file = false) =>
    seriesEntry(series_id, {
      count,
      datadir_files: file ? [{ path: "x", format: "feather", problem: null }] : [],
    });

  it("opens a spot series the user holds before a futures one or an alphabetically first one", () => {
    const data = UserData.from([
      entry("binance:futures:AAA/USDT:USDT:1m", 9000, true),
      entry("binance:spot:AAA/USDT:1m", 50),
      entry("binance:spot:XRP/ETH:5m", 0, true),
      entry("binance:spot:XRP/ETH:1m", 0, true),
      entry("binance:spot:ZZZ/USDT:1m", 0),
    ]);
    expect(data.preferred()).toBe("binance:spot:XRP/ETH:1m");
    expect(UserData.none.preferred()).toBeNull();
  });
});
