import { describe, expect, it } from "vitest";
import { COMPANIONS, companionId, companionPoints, companionText, valueAt } from "../src/companions";
import type { Candle } from "../src/types";

const [mark, funding, interest] = COMPANIONS;

function row(t: number, open: number, close: number, volume = 0): Candle {
  return { candle_time: t, open, high: Math.max(open, close), low: Math.min(open, close), close, volume };
}

describe("futures companions", () => {
  it("are named for a futures series only, at the timeframes the server keeps", () => {
    expect(companionId("binance:futures:BTC/USDT:USDT:1m", mark)).toBe("binance:mark:BTC/USDT:USDT:1h");
    expect(companionId("bybit:futures:ETH/USDT:USDT:15m", funding)).toBe("bybit:funding_rate:ETH/USDT:USDT:1h");
    expect(companionId("binance:futures:BTC/USDT:USDT:1d", interest)).toBe(
      "binance:open_interest:BTC/USDT:USDT:5m",
    );
    expect(companionId("binance:spot:BTC/USDT:1m", mark)).toBeNull();
    expect(companionId("binance:mark:BTC/USDT:USDT:1h", mark)).toBeNull();
  });

  it("draw the mark at each hour's start, the funding rate and the reported open interest", () => {
    const rows = [row(3600, 10, 11), row(7200, 11, 12)];
    expect(companionPoints(mark, rows)).toEqual([[3600, 10], [7200, 11]]);
    expect(companionPoints(funding, [row(0, -0.0001, -0.0001)])).toEqual([[0, -0.0001]]);
    // A sample the venue reported no amount for (-1) is left out, not drawn as -1.
    expect(companionPoints(interest, [row(0, 5, 5, 100), row(300, -1, -1, 50)])).toEqual([[0, 5]]);
  });

  it("tell the value that held at a time", () => {
    const points: [number, number][] = [[100, 1], [200, 2], [300, 3]];
    expect(valueAt(points, 50)).toBeNull();
    expect(valueAt(points, 100)).toBe(1);
    expect(valueAt(points, 299)).toBe(2);
    expect(valueAt(points, 1000)).toBe(3);
    expect(valueAt([], 1000)).toBeNull();
  });

  it("are written as a trader reads them", () => {
    expect(companionText(funding, -0.000125, 2)).toBe("-0.0125%");
    expect(companionText(mark, 63211.456, 2)).toBe("63211.46");
    expect(companionText(interest, 21234.5, 2)).toBe("21,234.5");
  });
});
