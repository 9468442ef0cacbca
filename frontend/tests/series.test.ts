import { describe, expect, it } from "vitest";
import { reconnectDelayMs } from "../src/backoff";
import { formatAge, formatTime, formatUtc, legendText, pricePrecision, tickPrecision } from "../src/format";
import { formatSeriesId, normalizeSymbol, parseSeriesId } from "../src/series";

describe("series ids", () => {
  it("parses futures symbols with a colon", () => {
    expect(parseSeriesId("binance:futures:ETH/USDT:USDT:1h")).toEqual({
      exchange: "binance", market: "futures", symbol: "ETH/USDT:USDT", timeframe: "1h",
    });
    expect(formatSeriesId(parseSeriesId("binance:spot:BTC/USDT:1M")!)).toBe("binance:spot:BTC/USDT:1M");
  });

  it("refuses what is not an id", () => {
    for (const bad of ["", "binance:spot:1m", "binance:mars:BTC/USDT:1m", "binance:spot:BTC/USDT:7m"]) {
      expect(parseSeriesId(bad)).toBeNull();
    }
  });

  it("normalizes typed symbols", () => {
    expect(normalizeSymbol(" btc/usdt ", "spot")).toBe("BTC/USDT");
    expect(normalizeSymbol("btc/usdt", "futures")).toBe("BTC/USDT:USDT");
    expect(normalizeSymbol("ETH/USDT:USDT", "futures")).toBe("ETH/USDT:USDT");
  });
});

describe("reconnect backoff", () => {
  it("grows, is capped, and is jittered within [half, full]", () => {
    expect(reconnectDelayMs(0, () => 0)).toBe(250);
    expect(reconnectDelayMs(0, () => 1)).toBe(500);
    expect(reconnectDelayMs(3, () => 0.5)).toBe(3000);
    expect(reconnectDelayMs(50, () => 1)).toBe(15_000);
    expect(reconnectDelayMs(50, () => 0)).toBe(7_500);
  });
});

describe("format", () => {
  it("takes the price precision from the data", () => {
    const c = (close: number) => ({ candle_time: 0, open: close, high: close, low: close, close, volume: 1 });
    expect(pricePrecision([c(42000.5), c(42001.25)])).toBe(2);
    expect(pricePrecision([c(0.00001234)])).toBe(8);
    expect(pricePrecision([c(1.2e-7)])).toBe(8);
    expect(pricePrecision([c(100)])).toBe(0);
  });

  it("counts the data's digits, not float noise", () => {
    const c = (close: number) => ({ candle_time: 0, open: close, high: close, low: close, close, volume: 1 });
    expect(pricePrecision([c(0.10440995000000001)])).toBe(8); // not 0.1044099500
    expect(pricePrecision([c(0.1 + 0.2)])).toBe(1);
    expect(pricePrecision([c(12345.678912)])).toBe(6);
    expect(legendText({ ...c(0.10440995000000001) }, pricePrecision([c(0.10440995000000001)]))).toContain(
      "C 0.10440995 ",
    );
  });

  it("shows local times with their offset when asked", () => {
    const text = formatTime(1700000040, "local");
    expect(text).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d UTC([+-]\d+(:\d\d)?)?$/);
    expect(formatTime(1700000040, "utc")).toBe("2023-11-14 22:14 UTC");
  });

  it("shows times in UTC and ages in words", () => {
    expect(formatUtc(1700000040)).toBe("2023-11-14 22:14 UTC");
    expect(formatAge(500)).toBe("just now");
    expect(formatAge(12_000)).toBe("12 s ago");
    expect(formatAge(180_000)).toBe("3 min ago");
    const text = legendText({ candle_time: 1700000040, open: 10, high: 12, low: 9, close: 11, volume: 1500 }, 2);
    expect(text).toContain("O 10.00");
    expect(text).toContain("+10.00%");
    expect(text).toContain("V 1.50K");
  });
});

describe("venues", () => {
  it("parses and formats a Bybit id like a Binance one", () => {
    const parts = parseSeriesId("bybit:futures:ETH/USDT:USDT:1h");
    expect(parts).toEqual({
      exchange: "bybit",
      market: "futures",
      symbol: "ETH/USDT:USDT",
      timeframe: "1h",
    });
    expect(parts && formatSeriesId(parts)).toBe("bybit:futures:ETH/USDT:USDT:1h");
  });
});

describe("price ticks", () => {
  it("shows as many decimals as the venue's tick has", () => {
    expect(tickPrecision(0.01)).toBe(2);
    expect(tickPrecision(0.5)).toBe(1);
    expect(tickPrecision(1)).toBe(0);
    expect(tickPrecision(1e-8)).toBe(8);
    expect(tickPrecision(0.00001)).toBe(5);
  });
});
