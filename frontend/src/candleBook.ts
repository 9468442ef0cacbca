import type { Candle } from "./types";

/**
 * What the chart shows for one series, apart from the DOM: closed candles (from HTTP pages,
 * `catchup` and `candle_closed`) followed by the forming ones the stream has shown since.
 *
 * Invariant: `bars` ascends by `candle_time` without duplicates; `bars[0, closedCount)` are
 * closed, the rest (usually one, two around a candle boundary) are forming. The forming
 * candle of the next period often arrives before the close of the previous one, because the
 * server commits closes in batches before broadcasting them; that close then fixes a bar
 * that is no longer the last.
 */

/** What a change means for the chart: nothing, one bar to update, or the whole data. */
export type BookChange =
  | { readonly kind: "none" }
  | { readonly kind: "bar"; readonly candle: Candle; readonly historical: boolean }
  | { readonly kind: "reset"; readonly prepended: number };

const NONE: BookChange = { kind: "none" };

export class CandleBook {
  private readonly bars: Candle[] = [];
  private closedCount = 0;

  get size(): number {
    return this.bars.length;
  }

  get closedSize(): number {
    return this.closedCount;
  }

  get firstTime(): number | null {
    return this.bars.length ? this.bars[0].candle_time : null;
  }

  get lastClosedTime(): number | null {
    return this.closedCount ? this.bars[this.closedCount - 1].candle_time : null;
  }

  /** Every bar, closed then forming; the array itself, not a copy: do not change it. */
  all(): readonly Candle[] {
    return this.bars;
  }

  closed(): Candle[] {
    return this.bars.slice(0, this.closedCount);
  }

  last(): Candle | null {
    return this.bars.length ? this.bars[this.bars.length - 1] : null;
  }

  /** The bar at `time`, or null (binary search). */
  at(time: number): Candle | null {
    const i = this.indexOf(time);
    return i >= 0 ? this.bars[i] : null;
  }

  /** The index of the first bar opening after `time` (the size, when none does). */
  indexAfter(time: number): number {
    return this.countBefore(time + 1);
  }

  /** The index of the bar at `time`, or -1. */
  indexOf(time: number): number {
    const i = this.countBefore(time);
    return i < this.bars.length && this.bars[i].candle_time === time ? i : -1;
  }

  /**
   * Merge closed candles read from the store (any range, ascending). Stored candles win over
   * what the book holds at the same time; forming bars at or before the newest closed one
   * are dropped, since the stream will never close them now.
   */
  mergeClosed(page: readonly Candle[]): BookChange {
    if (page.length === 0) return NONE;
    const pageFirst = page[0].candle_time;
    const pageLast = page[page.length - 1].candle_time;
    const oldFirst = this.firstTime;
    // In place where the page lies wholly before or after what is closed: scrolling back
    // through 100,000 bars must not copy them all at every page.
    if (this.closedCount === 0 || pageLast < this.bars[0].candle_time) {
      const forming = this.bars.splice(this.closedCount);
      this.bars.splice(0, 0, ...page);
      this.closedCount += page.length;
      for (const c of forming) if (c.candle_time > pageLast) this.bars.push(c);
    } else if (pageFirst > this.bars[this.closedCount - 1].candle_time) {
      const forming = this.bars.splice(this.closedCount);
      for (const c of page) this.bars.push(c);
      this.closedCount += page.length;
      for (const c of forming) if (c.candle_time > pageLast) this.bars.push(c);
    } else {
      const forming = this.bars.splice(this.closedCount);
      const merged = mergeAscending(this.bars, page);
      const newest = merged[merged.length - 1].candle_time;
      this.bars.length = 0;
      for (const c of merged) this.bars.push(c);
      this.closedCount = merged.length;
      for (const c of forming) if (c.candle_time > newest) this.bars.push(c);
    }
    const prepended = oldFirst === null ? 0 : this.countBefore(oldFirst);
    return { kind: "reset", prepended };
  }

  /** A `candle_closed` from the stream: fixes the bar at its time or appends it. */
  applyClosed(candle: Candle): BookChange {
    const t = candle.candle_time;
    const lastClosed = this.lastClosedTime;
    if (lastClosed !== null && t < lastClosed) return NONE; // older than what is closed
    if (lastClosed !== null && t === lastClosed) {
      const i = this.closedCount - 1;
      if (sameCandle(this.bars[i], candle)) return NONE;
      this.bars[i] = candle;
      return { kind: "bar", candle, historical: i !== this.bars.length - 1 };
    }
    // Newer than every closed bar: it closes a forming bar, or lands among them.
    const forming = this.bars.splice(this.closedCount);
    const dropped = forming.filter((c) => c.candle_time < t).length;
    const replaces = forming.some((c) => c.candle_time === t);
    const later = forming.filter((c) => c.candle_time > t);
    this.bars.push(candle, ...later);
    this.closedCount += 1;
    if (dropped > 0 || (!replaces && later.length > 0)) return { kind: "reset", prepended: 0 };
    return { kind: "bar", candle, historical: later.length > 0 };
  }

  /** A `candle_forming`: moves the last bar, or opens a new one; anything older is ignored. */
  applyForming(candle: Candle): BookChange {
    const t = candle.candle_time;
    const last = this.last();
    if (last !== null && t < last.candle_time) return NONE;
    if (last !== null && t === last.candle_time) {
      if (this.closedCount === this.bars.length) return NONE; // already closed
      if (sameCandle(last, candle)) return NONE;
      this.bars[this.bars.length - 1] = candle;
    } else {
      this.bars.push(candle);
    }
    return { kind: "bar", candle, historical: false };
  }

  private countBefore(time: number): number {
    let lo = 0;
    let hi = this.bars.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.bars[mid].candle_time < time) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function mergeAscending(held: readonly Candle[], page: readonly Candle[]): Candle[] {
  const out: Candle[] = [];
  let i = 0;
  let j = 0;
  while (i < held.length || j < page.length) {
    if (j >= page.length || (i < held.length && held[i].candle_time < page[j].candle_time)) {
      out.push(held[i++]);
    } else {
      if (i < held.length && held[i].candle_time === page[j].candle_time) i++;
      out.push(page[j++]);
    }
  }
  return out;
}

function sameCandle(a: Candle, b: Candle): boolean {
  return (
    a.candle_time === b.candle_time &&
    a.open === b.open &&
    a.high === b.high &&
    a.low === b.low &&
    a.close === b.close &&
    a.volume === b.volume
  );
}
