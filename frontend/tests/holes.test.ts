import { describe, expect, it } from "vitest";
import { healedHoles } from "../src/controller";
import type { Hole, SeriesStatus } from "../src/types";

function status(holes: Hole[]): SeriesStatus {
  const missing = holes.reduce((n, h) => n + h.candles, 0);
  return {
    series_id: "binance:spot:BTC/USDT:1m",
    state: "streaming",
    reason: null,
    head_time: 0,
    hole_count: holes.length,
    holes,
    missing_candles: missing,
  };
}

describe("healedHoles", () => {
  const a = { from: 600, to: 1200, candles: 11 };
  const b = { from: 6000, to: 6060, candles: 2 };

  it("names the holes no longer listed as they were", () => {
    expect(healedHoles(status([b, a]), status([a]))).toEqual([b]);
    expect(healedHoles(status([b, a]), status([{ ...b, to: 6000, candles: 1 }, a]))).toEqual([b]);
  });

  it("names none on the first status, or when nothing changed", () => {
    expect(healedHoles(null, status([a]))).toEqual([]);
    expect(healedHoles(status([a]), status([a]))).toEqual([]);
  });
});
