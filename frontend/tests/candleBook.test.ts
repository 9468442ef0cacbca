import { describe, expect, it } from "vitest";
import { CandleBook } from "../src/candleBook";
import type { Candle } from "../src/types";

function candle(t: number, close = 100 + t / 60, volume = 1): Candle {
  return { candle_time: t, open: 100, high: Math.max(100, close) + 1, low: 99, close, volume };
}

const times = (book: CandleBook) => book.all().map((c) => c.candle_time);

describe("CandleBook.mergeClosed", () => {
  it("takes a first page as it is", () => {
    const book = new CandleBook();
    const change = book.mergeClosed([candle(60), candle(120), candle(180)]);
    expect(change).toEqual({ kind: "reset", prepended: 0 });
    expect(times(book)).toEqual([60, 120, 180]);
    expect(book.lastClosedTime).toBe(180);
  });

  it("prepends an older page and says how many bars came before the old first", () => {
    const book = new CandleBook();
    book.mergeClosed([candle(300), candle(360)]);
    const change = book.mergeClosed([candle(120), candle(180), candle(240)]);
    expect(change).toEqual({ kind: "reset", prepended: 3 });
    expect(times(book)).toEqual([120, 180, 240, 300, 360]);
  });

  it("dedups overlapping pages, the page winning", () => {
    const book = new CandleBook();
    book.mergeClosed([candle(60), candle(120, 1), candle(180)]);
    book.mergeClosed([candle(120, 2), candle(180), candle(240)]);
    expect(times(book)).toEqual([60, 120, 180, 240]);
    expect(book.at(120)?.close).toBe(2);
  });

  it("fills a hole in the middle", () => {
    const book = new CandleBook();
    book.mergeClosed([candle(60), candle(300)]);
    book.mergeClosed([candle(120), candle(180), candle(240)]);
    expect(times(book)).toEqual([60, 120, 180, 240, 300]);
    expect(book.closedSize).toBe(5);
  });

  it("drops forming bars the stored page has passed and keeps newer ones", () => {
    const book = new CandleBook();
    book.mergeClosed([candle(60)]);
    book.applyForming(candle(120));
    book.applyForming(candle(180));
    book.mergeClosed([candle(120)]);
    expect(times(book)).toEqual([60, 120, 180]);
    expect(book.closedSize).toBe(2);
    expect(book.last()?.candle_time).toBe(180);
  });

  it("ignores an empty page", () => {
    const book = new CandleBook();
    expect(book.mergeClosed([])).toEqual({ kind: "none" });
  });
});

describe("CandleBook stream", () => {
  it("moves the last bar on forming and appends a new one for the next period", () => {
    const book = new CandleBook();
    book.mergeClosed([candle(60)]);
    expect(book.applyForming(candle(120, 5))).toMatchObject({ kind: "bar", historical: false });
    expect(book.applyForming(candle(120, 6))).toMatchObject({ kind: "bar", historical: false });
    expect(times(book)).toEqual([60, 120]);
    expect(book.last()?.close).toBe(6);
    expect(book.closedSize).toBe(1);
  });

  it("ignores forming older than the last bar, or for a closed time", () => {
    const book = new CandleBook();
    book.mergeClosed([candle(60), candle(120)]);
    expect(book.applyForming(candle(60, 9))).toEqual({ kind: "none" });
    expect(book.applyForming(candle(120, 9))).toEqual({ kind: "none" });
    expect(book.at(120)?.close).not.toBe(9);
  });

  it("a close fixes the forming bar at its time", () => {
    const book = new CandleBook();
    book.mergeClosed([candle(60)]);
    book.applyForming(candle(120, 5));
    const change = book.applyClosed(candle(120, 7));
    expect(change).toMatchObject({ kind: "bar", historical: false });
    expect(book.lastClosedTime).toBe(120);
    expect(book.last()?.close).toBe(7);
  });

  it("a close arriving after the next period's forming fixes the bar behind it", () => {
    const book = new CandleBook();
    book.mergeClosed([candle(60)]);
    book.applyForming(candle(120, 5));
    book.applyForming(candle(180, 6));
    const change = book.applyClosed(candle(120, 7));
    expect(change).toMatchObject({ kind: "bar", historical: true });
    expect(times(book)).toEqual([60, 120, 180]);
    expect(book.closedSize).toBe(2);
    expect(book.at(120)?.close).toBe(7);
  });

  it("appends a close for a period never seen forming", () => {
    const book = new CandleBook();
    book.mergeClosed([candle(60)]);
    expect(book.applyClosed(candle(120))).toMatchObject({ kind: "bar", historical: false });
    expect(times(book)).toEqual([60, 120]);
  });

  it("inserts a close before a newer forming bar with a full redraw", () => {
    const book = new CandleBook();
    book.mergeClosed([candle(60)]);
    book.applyForming(candle(180));
    expect(book.applyClosed(candle(120))).toEqual({ kind: "reset", prepended: 0 });
    expect(times(book)).toEqual([60, 120, 180]);
    expect(book.closedSize).toBe(2);
  });

  it("drops a forming bar whose close the stream skipped", () => {
    const book = new CandleBook();
    book.mergeClosed([candle(60)]);
    book.applyForming(candle(120));
    expect(book.applyClosed(candle(180))).toEqual({ kind: "reset", prepended: 0 });
    expect(times(book)).toEqual([60, 180]);
  });

  it("ignores closes older than the newest closed bar, and repeats of it", () => {
    const book = new CandleBook();
    book.mergeClosed([candle(60), candle(120)]);
    expect(book.applyClosed(candle(60, 1))).toEqual({ kind: "none" });
    expect(book.applyClosed(candle(120))).toEqual({ kind: "none" });
    expect(book.at(60)?.close).not.toBe(1);
    expect(book.applyClosed(candle(120, 3))).toMatchObject({ kind: "bar" });
    expect(book.at(120)?.close).toBe(3);
  });

  it("never holds a duplicate time, whatever the order of messages", () => {
    const book = new CandleBook();
    const events: Array<["c" | "f" | "p", number]> = [];
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2000; i++) {
      const kind = rand() < 0.45 ? "c" : rand() < 0.9 ? "f" : "p";
      events.push([kind, Math.floor(rand() * 200) * 60]);
    }
    // Checked after every event, with plain comparisons (an `expect` per pair was 400,000
    // of them: seconds on a busy machine); what went wrong is collected and shown once.
    const wrong: string[] = [];
    events.forEach(([kind, t], n) => {
      if (kind === "c") book.applyClosed(candle(t));
      else if (kind === "f") book.applyForming(candle(t));
      else book.mergeClosed([candle(t), candle(t + 60)]);
      const ts = times(book);
      for (let i = 1; i < ts.length; i++) {
        if (!(ts[i] > ts[i - 1])) wrong.push(`after event ${n} (${kind} ${t}): ${ts[i - 1]} then ${ts[i]}`);
      }
      if (book.closedSize > book.size) wrong.push(`after event ${n}: more closed bars than bars`);
    });
    expect(wrong).toEqual([]);
  });
});
