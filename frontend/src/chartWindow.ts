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
    const slice =
      view === null || this.bookSize === 0
        ? { lo: Math.max(0, n - this.size), hi: n, shift: null }
        : this.around(this.lo + prepended + (view.from + view.to) / 2, n, this.lo + prepended);
    return this.apply(slice, n);
  }

  /** What the user's scroll to `view` (chart logical range) asks for; changes nothing. */
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

  /** The chart now holds `slice` of a book of `n` bars (default: the same book). */
  apply(slice: Slice, n = this.bookSize): Slice {
    this.lo = slice.lo;
    this.hi = slice.hi;
    this.bookSize = n;
    return slice;
  }

  private around(center: number, n: number, oldLoInNewIndices: number): Slice {
    const lo = Math.min(Math.max(0, Math.floor(center - this.size / 2)), Math.max(0, n - this.size));
    return { lo, hi: Math.min(n, lo + this.size), shift: oldLoInNewIndices - lo };
  }

  /** The slice ends at the book's newest bar (live bars are drawn as they come). */
  get following(): boolean {
    return this.hi === this.bookSize;
  }
}
