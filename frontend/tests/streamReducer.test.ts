import { describe, expect, it } from "vitest";
import { CandleBook } from "../src/candleBook";
import { applyServerMessage } from "../src/streamReducer";
import type { Candle } from "../src/types";

const ID = "binance:spot:BTC/USDT:1m";
const c = (t: number): Candle => ({
  candle_time: t, open: 1, high: 2, low: 0.5, close: 1.5, volume: 3,
});

describe("applyServerMessage", () => {
  it("merges a catchup and asks for the rest when it is truncated", () => {
    const book = new CandleBook();
    book.mergeClosed([c(60)]);
    const out = applyServerMessage(book, ID, {
      type: "catchup", series_id: ID, server_head_time: 9000, candles: [c(120), c(180)], truncated: true,
    });
    expect(out.change.kind).toBe("reset");
    expect(out.fetchSince).toBe(180);
    expect(book.lastClosedTime).toBe(180);
  });

  it("turns a gap into a refetch from before the earliest missing candle", () => {
    const out = applyServerMessage(new CandleBook(), ID, {
      type: "gap", series_id: ID, expected_next_time: 240, actual_time: 600,
    });
    expect(out.fetchSince).toBe(239);
  });

  it("ignores messages for other series", () => {
    const book = new CandleBook();
    const out = applyServerMessage(book, ID, {
      type: "candle_closed", series_id: "binance:spot:ETH/USDT:1m", candle: c(60),
    });
    expect(out.touched).toBe(false);
    expect(book.size).toBe(0);
    const err = applyServerMessage(book, ID, {
      type: "error", code: "capacity", message: "full", series_id: "binance:spot:ETH/USDT:1m",
    });
    expect(err.problem).toBeUndefined();
  });

  it("reports errors for the series, and those without one", () => {
    const book = new CandleBook();
    expect(
      applyServerMessage(book, ID, { type: "error", code: "capacity", message: "full", series_id: ID })
        .problem,
    ).toEqual({ code: "capacity", message: "full" });
    expect(
      applyServerMessage(book, ID, { type: "error", code: "bad_message", message: "x" }).problem?.code,
    ).toBe("bad_message");
  });

  it("applies closed and forming candles", () => {
    const book = new CandleBook();
    applyServerMessage(book, ID, { type: "candle_closed", series_id: ID, candle: c(60) });
    applyServerMessage(book, ID, { type: "candle_forming", series_id: ID, candle: c(120) });
    expect(book.closedSize).toBe(1);
    expect(book.size).toBe(2);
  });
});
