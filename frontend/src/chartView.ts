import {
  CandlestickSeries,
  ColorType,
  createChart,
  createSeriesMarkers,
  HistogramSeries,
  type ISeriesMarkersPluginApi,
  type SeriesMarker,
  type CandlestickData,
  type HistogramData,
  type IChartApi,
  type ISeriesApi,
  type Time,
  type UTCTimestamp,
} from "lightweight-charts";
import { BotLayer, type DrawnBots, type IndicatorGroup } from "./botLayer";
import type { BotOverlay } from "./bots";
import type { BookChange, CandleBook } from "./candleBook";
import { ChartWindow, type Slice } from "./chartWindow";
import type { CompanionLine } from "./companionPanel";
import { formatTime, pricePrecision, tickPrecision, type TimeZoneChoice } from "./format";
import type { Candle, Hole } from "./types";

/** The lightweight-charts side of the page: candles, a volume pane, themes, the left edge. */

export interface ChartTheme {
  readonly background: string;
  readonly text: string;
  readonly grid: string;
  readonly border: string;
  readonly up: string;
  readonly down: string;
  readonly volumeUp: string;
  readonly volumeDown: string;
}

export const THEMES: Record<"light" | "dark", ChartTheme> = {
  light: {
    background: "#ffffff",
    text: "#1f2328",
    grid: "#eef0f3",
    border: "#d0d7de",
    up: "#089981",
    down: "#f23645",
    volumeUp: "rgba(8, 153, 129, 0.45)",
    volumeDown: "rgba(242, 54, 69, 0.45)",
  },
  dark: {
    background: "#131722",
    text: "#d1d4dc",
    grid: "#1e222d",
    border: "#2a2e39",
    up: "#26a69a",
    down: "#ef5350",
    volumeUp: "rgba(38, 166, 154, 0.45)",
    volumeDown: "rgba(239, 83, 80, 0.45)",
  },
};

/** Empty bars right of the newest, so it is not drawn against the price scale. */
const RIGHT_OFFSET = 6;

/** A hole's mark: on the bar after it. */
export interface HoleMark {
  readonly time: number;
  readonly text: string;
}

export class ChartView {
  private readonly chart: IChartApi;
  private readonly candles: ISeriesApi<"Candlestick">;
  private readonly volume: ISeriesApi<"Histogram">;
  private theme: ChartTheme;
  private decimals = -1;
  private tick: number | null = null; // the venue's price tick, when known
  private window = new ChartWindow();
  private book: CandleBook | null = null;
  private slidePending = false;
  private zone: TimeZoneChoice = "utc";
  private readonly markers: ISeriesMarkersPluginApi<Time>;
  private readonly bots: BotLayer;
  private botMarkers: SeriesMarker<Time>[] = [];
  /** The oldest candle stored, once the chart has scrolled back to it. */
  private historyStart: number | null = null;
  /** The store's holes in this series (the candles it lacks), as its status lists them. */
  private holes: readonly Hole[] = [];
  private holeMarks: HoleMark[] = [];
  private companionLines: readonly CompanionLine[] = [];

  constructor(
    container: HTMLElement,
    theme: ChartTheme,
    private readonly onNearLeftEdge: () => void,
    onCrosshair: (time: number | null) => void,
    private readonly onViewChange: () => void = () => undefined,
  ) {
    this.theme = theme;
    this.chart = createChart(container, {
      autoSize: true,
      layout: { attributionLogo: true, fontSize: 12 },
      timeScale: { timeVisible: true, secondsVisible: false, rightOffset: RIGHT_OFFSET },
      crosshair: { mode: 0 },
    });
    this.candles = this.chart.addSeries(CandlestickSeries, { borderVisible: false });
    this.volume = this.chart.addSeries(
      HistogramSeries,
      { priceFormat: { type: "volume" }, priceLineVisible: false, lastValueVisible: false },
      1,
    );
    this.markers = createSeriesMarkers(this.candles, []);
    this.bots = new BotLayer(this.chart, this.candles);
    this.setTimeZone("utc");
    this.chart.panes()[0].setStretchFactor(3);
    this.chart.panes()[1].setStretchFactor(1);
    this.applyTheme(theme);
    this.chart.timeScale().subscribeVisibleLogicalRangeChange((range) => {
      if (range !== null) this.scrolled(range);
      this.onViewChange();
    });
    this.chart.subscribeCrosshairMove((param) => {
      onCrosshair(param.time === undefined ? null : (param.time as number));
    });
  }

  /** Show what changed in `book`; a different book than before is a new series. */
  render(change: BookChange, book: CandleBook): void {
    if (book !== this.book) {
      // Another series: its own price range and zoom, not the last one's.
      this.book = book;
      this.window = new ChartWindow();
      this.historyStart = null;
      this.holes = [];
      this.bots.set([]); // the last series' trades are not this one's
      this.chart.priceScale("right").applyOptions({ autoScale: true });
      this.chart.timeScale().resetTimeScale();
    }
    if (change.kind === "reset") {
      const timeScale = this.chart.timeScale();
      const view = timeScale.getVisibleLogicalRange();
      const wasFollowing =
        view !== null && this.window.following && view.to >= this.window.hi - this.window.lo - 1;
      const slice = this.window.reset(book.size, change.prepended, view);
      // A view at the newest bar keeps following it; any other stays on the bars it showed.
      this.show(book, slice, wasFollowing && change.prepended === 0 ? null : slice.shift);
    } else if (change.kind === "bar") {
      const index = book.indexOf(change.candle.candle_time);
      if (this.window.barChanged(index, book.size)) {
        this.candles.update(this.candleBar(change.candle), change.historical);
        this.volume.update(this.volumeBar(change.candle), change.historical);
      }
    }
  }

  /** Times on the axis, the crosshair and the legend: UTC (the default) or the browser's. */
  setTimeZone(zone: TimeZoneChoice): void {
    this.zone = zone;
    this.chart.applyOptions({
      localization: { timeFormatter: (time: Time) => formatTime(time as number, zone) },
      timeScale: {
        tickMarkFormatter: (time: Time, kind: number) => tickMark(time as number, kind, zone),
      },
    });
  }

  get timeZone(): TimeZoneChoice {
    return this.zone;
  }

  /** Mark the oldest stored candle: scrolling further back shows nothing more. */
  markHistoryStart(time: number | null): void {
    if (time === this.historyStart) return;
    this.historyStart = time;
    this.showMarkers();
  }

  /** Mark where the store lacks candles: a jump in time is never silent. */
  markHoles(holes: readonly Hole[]): void {
    const same =
      holes.length === this.holes.length &&
      holes.every((h, i) => h.from === this.holes[i].from && h.to === this.holes[i].to);
    if (same) return;
    this.holes = holes;
    this.showMarkers();
  }

  /** The hole marks drawn now (for the test hook). */
  get drawnHoles(): readonly HoleMark[] {
    return this.holeMarks;
  }

  /** The bots' trades and indicators for the series on screen (empty: none shown). */
  setBots(overlays: readonly BotOverlay[]): void {
    this.bots.set(overlays);
    this.drawBots();
  }

  /** A futures contract's mark price (over the candles), funding rate and open interest
   * (a pane each); empty: none shown. */
  setCompanions(lines: readonly CompanionLine[]): void {
    this.companionLines = lines;
    this.drawBots();
  }

  /** The companions as the bot layer draws them; a step (the funding rate in force) held
   * on to the newest bar. */
  private companionGroups(): IndicatorGroup[] {
    const newest = this.book?.last()?.candle_time ?? null;
    return this.companionLines.map(({ companion, points }) => {
      const last = points.at(-1);
      const held =
        companion.draw === "step" && last !== undefined && newest !== null && newest > last[0]
          ? [...points, [newest, last[1]] as [number, number]]
          : points;
      return {
        name: "futures",
        indicators: [
          { pane: companion.pane, column: companion.label, kind: companion.draw, color: companion.color, points: held },
        ],
      };
    });
  }

  /** The bots' trades entered or left at the candle `time`, as text for the hover. */
  botTradesAt(time: number): string[] {
    return this.bots.tradesAt(time);
  }

  /** The x of the candle at `time` within the chart, or null when off screen. */
  xOfTime(time: number): number | null {
    return this.chart.timeScale().timeToCoordinate(time as UTCTimestamp);
  }

  paneCount(): number {
    return this.chart.panes().length;
  }

  drawnBots(): DrawnBots {
    return this.bots.drawn();
  }

  private drawBots(): void {
    const book = this.book;
    const { lo, hi } = this.window;
    const held = (time: number): boolean => {
      const i = book === null ? -1 : book.indexOf(time);
      return i >= lo && i < hi;
    };
    this.bots.setGroups(this.companionGroups());
    this.botMarkers = this.bots.render(held, this.theme);
    this.showMarkers();
  }

  private showMarkers(): void {
    const start: SeriesMarker<Time>[] =
      this.historyStart === null
        ? []
        : [{ time: this.historyStart as UTCTimestamp, position: "belowBar", shape: "arrowUp",
             color: this.theme.text, text: "start of history" }];  // prettier-ignore
    this.holeMarks = this.heldHoleMarks();
    const holes: SeriesMarker<Time>[] = this.holeMarks.map((mark) => ({
      time: mark.time as UTCTimestamp,
      position: "aboveBar",
      shape: "arrowDown",
      color: this.theme.text, // not a price colour: a fact about the data, not the market
      text: mark.text,
    }));
    this.markers.setMarkers(
      [...start, ...holes, ...this.botMarkers].sort((a, b) => (a.time as number) - (b.time as number)),
    );
  }

  /** A mark on the first bar after each hole the chart holds both sides of. */
  private heldHoleMarks(): HoleMark[] {
    const book = this.book;
    if (book === null || this.holes.length === 0) return [];
    const { lo, hi } = this.window;
    const marks: HoleMark[] = [];
    for (const hole of this.holes) {
      const after = book.indexAfter(hole.to);
      if (after > lo && after < hi) {
        const time = book.all()[after].candle_time;
        marks.push({ time, text: `${hole.candles.toLocaleString("en-US")} missing` });
      }
    }
    return marks.sort((a, b) => a.time - b.time);
  }

  get historyStartMark(): number | null {
    return this.historyStart;
  }

  /** The price range the main pane shows (scales reset per series). */
  visiblePriceRange(): { from: number; to: number } | null {
    const range = this.candles.priceScale().getVisibleRange();
    return range ? { from: range.from, to: range.to } : null;
  }

  /** Whether the newest bar is on screen (else "go to latest" is offered). */
  atLatest(): boolean {
    const book = this.book;
    if (book === null || book.size === 0) return true;
    if (this.window.hi < book.size) return false;
    const view = this.chart.timeScale().getVisibleLogicalRange();
    return view === null || view.to >= this.window.hi - this.window.lo - 1;
  }

  /** Back to the newest bar, at the zoom the user has. */
  goToLatest(): void {
    const book = this.book;
    if (book === null) return;
    if (this.window.hi < book.size) {
      const lo = Math.max(0, book.size - this.window.size);
      this.show(book, this.window.apply({ lo, hi: book.size, shift: null }, book.size), null);
    }
    // At once, not animated: a page of older candles landing mid-animation would keep
    // the view wherever the animation had got to.
    this.chart.timeScale().scrollToPosition(RIGHT_OFFSET, false);
  }

  /** Bars the chart itself holds: a slice of the book around the view. */
  heldBars(): number {
    return this.window.hi - this.window.lo;
  }

  private scrolled(range: { from: number; to: number }): void {
    const action = this.window.scrolled(range);
    if (action === null) return;
    if (action.kind === "older") {
      this.onNearLeftEdge();
      return;
    }
    // Not from inside the chart's own range callback: slide on the next frame.
    if (this.slidePending) return;
    this.slidePending = true;
    requestAnimationFrame(() => {
      this.slidePending = false;
      const view = this.chart.timeScale().getVisibleLogicalRange();
      const book = this.book;
      if (view === null || book === null) return;
      const next = this.window.scrolled(view);
      if (next?.kind === "slide") this.show(book, this.window.apply(next.slice), next.slice.shift);
    });
  }

  private show(book: CandleBook, slice: Slice, shift: number | null): void {
    const timeScale = this.chart.timeScale();
    const view = shift !== null ? timeScale.getVisibleLogicalRange() : null;
    const bars = book.all();
    this.updatePrecision(bars);
    const n = slice.hi - slice.lo;
    const candleData: CandlestickData<Time>[] = new Array(n);
    const volumeData: HistogramData<Time>[] = new Array(n);
    for (let i = 0; i < n; i++) {
      candleData[i] = this.candleBar(bars[slice.lo + i]);
      volumeData[i] = this.volumeBar(bars[slice.lo + i]);
    }
    this.candles.setData(candleData);
    this.volume.setData(volumeData);
    this.drawBots(); // over the bars now held
    if (view !== null && shift !== null) {
      timeScale.setVisibleLogicalRange({ from: view.from + shift, to: view.to + shift });
    }
  }

  setTheme(theme: ChartTheme): void {
    this.theme = theme;
    this.applyTheme(theme);
    // Volume colours are per bar.
    if (this.book !== null) {
      this.show(this.book, { lo: this.window.lo, hi: this.window.hi, shift: null }, null);
    }
  }

  /** Visible time range (for the test hook and the scroll-back position). */
  visibleTimes(): { from: number; to: number } | null {
    const range = this.chart.timeScale().getVisibleRange();
    return range ? { from: range.from as number, to: range.to as number } : null;
  }

  /** The chart's visible logical range (bar indices in the slice it holds). */
  visibleLogical(): { from: number; to: number } | null {
    return this.chart.timeScale().getVisibleLogicalRange();
  }

  /** Move the view `bars` to the right (negative: back in time), as a drag would. */
  scrollBy(bars: number): void {
    const timeScale = this.chart.timeScale();
    const range = timeScale.getVisibleLogicalRange();
    if (range) timeScale.setVisibleLogicalRange({ from: range.from + bars, to: range.to + bars });
  }

  /** Show prices at the venue's tick (null: at the precision the data shows). */
  setPriceTick(tick: number | null): void {
    if (tick === this.tick) return;
    this.tick = tick;
    if (tick === null) {
      this.decimals = -1; // the next render takes it from the data again
      return;
    }
    this.decimals = tickPrecision(tick);
    this.candles.applyOptions({
      priceFormat: { type: "price", precision: this.decimals, minMove: tick },
    });
  }

  /** Decimals of the prices shown (the venue's tick, else taken from the data). */
  get precision(): number {
    return Math.max(0, this.decimals);
  }

  /** Width in pixels of the price scale on the right (it grows with the prices' digits). */
  priceScaleWidth(): number {
    return this.chart.priceScale("right").width();
  }

  themeColors(): ChartTheme {
    return this.theme;
  }

  screenshot(): HTMLCanvasElement {
    return this.chart.takeScreenshot();
  }

  private applyTheme(theme: ChartTheme): void {
    this.chart.applyOptions({
      layout: {
        background: { type: ColorType.Solid, color: theme.background },
        textColor: theme.text,
        panes: { separatorColor: theme.border },
      },
      grid: { vertLines: { color: theme.grid }, horzLines: { color: theme.grid } },
      rightPriceScale: { borderColor: theme.border },
      timeScale: { borderColor: theme.border },
    });
    this.candles.applyOptions({
      upColor: theme.up,
      downColor: theme.down,
      wickUpColor: theme.up,
      wickDownColor: theme.down,
    });
  }

  private updatePrecision(bars: readonly Candle[]): void {
    if (this.tick !== null) return;
    const precision = pricePrecision(bars);
    if (precision === this.decimals) return;
    this.decimals = precision;
    this.candles.applyOptions({
      priceFormat: { type: "price", precision, minMove: 10 ** -precision },
    });
  }

  private candleBar(c: Candle): CandlestickData<Time> {
    return {
      time: c.candle_time as UTCTimestamp,
      open: c.open,
      high: c.high,
      low: c.low,
      close: c.close,
    };
  }

  private volumeBar(c: Candle): HistogramData<Time> {
    return {
      time: c.candle_time as UTCTimestamp,
      value: c.volume,
      color: c.close >= c.open ? this.theme.volumeUp : this.theme.volumeDown,
    };
  }
}

/** The time axis' labels in the chosen zone (lightweight-charts draws UTC otherwise). */
function tickMark(time: number, kind: number, zone: TimeZoneChoice): string {
  const text = formatTime(time, zone); // "2024-01-02 03:04 UTC"
  const [date, clock] = text.split(" ");
  // TickMarkType: 0 year, 1 month, 2 day of month, 3 time, 4 time with seconds.
  if (kind === 0) return date.slice(0, 4);
  if (kind === 1) return date.slice(0, 7);
  if (kind === 2) return date.slice(5);
  return clock;
}
