import type { BotPanel } from "./botPanel";
import type { CompanionPanel } from "./companionPanel";
import type { ChartView } from "./chartView";
import type { MarketController } from "./controller";
import type { MarketSocket } from "./marketSocket";
import type { RenderProbe } from "./probe";
import type { Candle, ServerMessage } from "./types";

/**
 * What the end-to-end tests and the chart benchmark read from the page: bar counts, the
 * stored-candle view, pixel counts of the drawn chart, and timings. Read-only, apart from
 * `open`, `scrollBy` and `dropConnection`, which do what a user or a network would.
 */

export class PageMetrics implements RenderProbe {
  /** ms from navigation start until the first page of bars was on screen. */
  firstDrawMs: number | null = null;
  firstDrawBars = 0;
  /** ms from a `candle_forming` frame's arrival until the frame the chart drew it in. */
  readonly formingLatenciesMs: number[] = [];
  private pendingForming: { candle: Candle; at: number } | null = null;

  /** A new series: a forming frame of the old one no longer counts. */
  opened(): void {
    this.pendingForming = null;
  }

  messageArrived(message: ServerMessage): void {
    if (message.type === "candle_forming") {
      this.pendingForming = { candle: message.candle, at: performance.now() };
    }
  }

  drawn(bars: number): void {
    if (this.firstDrawMs !== null || bars === 0) return;
    this.firstDrawBars = bars;
    // The chart paints in its own animation frame, queued before this one.
    requestAnimationFrame(() => {
      this.firstDrawMs ??= performance.now();
    });
  }

  barUpdated(candle: Candle): void {
    const pending = this.pendingForming;
    if (pending === null || pending.candle !== candle) return;
    this.pendingForming = null;
    requestAnimationFrame(() => {
      if (this.formingLatenciesMs.length < 100_000) {
        this.formingLatenciesMs.push(performance.now() - pending.at);
      }
    });
  }
}

interface HookParts {
  readonly controller: MarketController;
  readonly socket: MarketSocket;
  readonly chart: ChartView;
  readonly metrics: PageMetrics;
  readonly botPanel: BotPanel;
  readonly companions: CompanionPanel;
  readonly open: (seriesId: string) => Promise<void>;
}

export function exposeTestHook(parts: HookParts): void {
  const { controller, socket, chart, metrics } = parts;
  const hook = {
    seriesId: () => controller.seriesId,
    state: () => socket.state,
    reachedStart: () => controller.reachedStart,
    loadingOlder: () => controller.olderInFlight,
    barCount: () => controller.book.size,
    heldBars: () => chart.heldBars(),
    firstTime: () => controller.book.firstTime,
    closedBars: () => controller.book.closed(),
    lastBar: () => controller.book.last(),
    visibleTimes: () => chart.visibleTimes(),
    scrollBy: (bars: number) => chart.scrollBy(bars),
    /** Scroll so that the chart's bar `index` is the leftmost; the view once drawn. */
    scrollToBar: async (index: number) => {
      const view = chart.visibleLogical();
      if (view) chart.scrollBy(index - view.from);
      // The chart computes its visible time range when it draws.
      await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
      return chart.visibleTimes();
    },
    dropConnection: () => socket.drop(),
    open: parts.open,
    metrics,
    pricePrecision: () => chart.precision,
    historyStartMark: () => chart.historyStartMark,
    /** The marks drawn where the store lacks candles. */
    holeMarks: () => chart.drawnHoles,
    priceRange: () => chart.visiblePriceRange(),
    priceScaleWidth: () => chart.priceScaleWidth(),
    /** The bots' markers, price lines and indicator points drawn now. */
    drawnBots: () => chart.drawnBots(),
    botOverlays: () => parts.botPanel.current(),
    /** The futures companions loaded now: each kind and its points. */
    companions: () =>
      parts.companions.shown().map((line) => ({ kind: line.companion.kind, points: line.points })),
    paneCount: () => chart.paneCount(),
    /** Where on the page the candle at `time` is drawn (its x), if on screen. */
    xOfTime: (time: number) => chart.xOfTime(time),
    /** Pixels of the drawn chart within a few levels of the colour `hex`. */
    colorPixels: (hex: string): number => {
      const canvas = chart.screenshot();
      const context = canvas.getContext("2d");
      if (!context) return 0;
      const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
      const colour = rgb(hex);
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (near(data, i, colour)) n++;
      return n;
    },
    /** Pixels of the drawn chart in the up and down candle colours (what a user sees). */
    chartPixels: (): { up: number; down: number; total: number } => {
      const canvas = chart.screenshot();
      const context = canvas.getContext("2d");
      if (!context) return { up: 0, down: 0, total: 0 };
      const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
      const up = rgb(chart.themeColors().up);
      const down = rgb(chart.themeColors().down);
      let nUp = 0;
      let nDown = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (near(data, i, up)) nUp++;
        else if (near(data, i, down)) nDown++;
      }
      return { up: nUp, down: nDown, total: data.length / 4 };
    },
  };
  (window as unknown as { __tradeCanvas: typeof hook }).__tradeCanvas = hook;
}

function rgb(hex: string): [number, number, number] {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function near(data: Uint8ClampedArray, i: number, [r, g, b]: [number, number, number]): boolean {
  return Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 24;
}
