/**
 * Which slice of the book the chart holds. lightweight-charts' `setData` costs time in
 * proportion to the bars it is given (about 1 ms per 1,000 candles here), so a chart holding
 * 100,000 bars blocks the page for 100-200 ms at every older page. The chart is given at
 * most `size` bars around the view instead, and the slice slides as the user scrolls.
 *
 * Indices: book index `i` is chart (logical) index `i - lo`.
 */

export interface Slice {
  readonly lo: number;
  readonly hi: number;
  /** Add this to the chart's visible logical range to keep the view on the same bars. */
  readonly shift: number | null;
}

export type ScrollAction = { readonly kind: "slide"; readonly slice: Slice } | { readonly kind: "older" };

export class ChartWindow {
  lo = 0;
  hi = 0;
  private bookSize = 0;

  constructor(
    readonly size = 15_000,
    /** Bars from an edge of the slice at which it slides (or older history loads). */
    readonly edge = 30,
  ) {}

  /**
   * The book was rebuilt (`prepended` bars before its old first, `n` in all). `view` is the
   * chart's visible logical range, or null on a first draw (then the newest bars are shown).
   */
  reset(n: number, prepended: number, view: { from: number; to: number } | null): Slice {
    if (view === null || this.bookSize === 0) {
      return this.take(Math.max(0, n - this.size), n, n, null);
    }
    const center = this.lo + prepended + (view.from + view.to) / 2;
    return this.around(center, n, this.lo + prepended);
  }

  /** The user scrolled to `view` (chart logical range). */
  scrolled(view: { from: number; to: number }): ScrollAction | null {
    const shown = this.hi - this.lo;
    if (view.from < this.edge) {
      if (this.lo === 0) return { kind: "older" };
      return { kind: "slide", slice: this.around(this.lo + (view.from + view.to) / 2, this.bookSize, this.lo) };
    }
    if (view.to > shown - this.edge && this.hi < this.bookSize) {
      return { kind: "slide", slice: this.around(this.lo + (view.from + view.to) / 2, this.bookSize, this.lo) };
    }
    return null;
  }

  /**
   * One bar changed at book index `index`; the book now holds `n` bars. True when the chart
   * holds that bar (then it is updated in place): a slice at the end follows new bars.
   */
  barChanged(index: number, n: number): boolean {
    if (this.following) this.hi = n;
    this.bookSize = n;
    return index >= this.lo && index < this.hi;
  }

  private around(center: number, n: number, oldLoInNewIndices: number): Slice {
    const lo = Math.min(Math.max(0, Math.floor(center - this.size / 2)), Math.max(0, n - this.size));
    return this.take(lo, Math.min(n, lo + this.size), n, oldLoInNewIndices - lo);
  }

  private take(lo: number, hi: number, n: number, shift: number | null): Slice {
    this.lo = lo;
    this.hi = hi;
    this.bookSize = n;
    return { lo, hi, shift };
  }

  /** The slice ends at the book's newest bar (live bars are drawn as they come). */
  get following(): boolean {
    return this.hi === this.bookSize;
  }
}
