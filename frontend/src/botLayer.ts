import {
  HistogramSeries,
  LineSeries,
  LineStyle,
  LineType,
  type IChartApi,
  type IPriceLine,
  type ISeriesApi,
  type SeriesMarker,
  type Time,
  type UTCTimestamp,
} from "lightweight-charts";
import { profitText, tradeText, type BotOverlay } from "./bots";

/** The bots' part of the chart: trade markers, open trades as price lines, and the
 * strategies' plot_config indicators (over the candles, or in a pane per subplot). Drawn
 * only over the bars the chart holds, so they never add times of their own to its axis. */

export interface LayerColors {
  readonly up: string;
  readonly down: string;
}

/** What is drawn now, for the test hook. */
export interface DrawnBots {
  readonly markers: { time: number; text: string; position: string }[];
  readonly priceLines: { price: number; title: string }[];
  readonly indicators: { key: string; pane: number; color: string; points: [number, number][] }[];
}

type IndicatorSeries = ISeriesApi<"Line"> | ISeriesApi<"Histogram">;

/** Indicators drawn beside the bots' (a futures contract's mark price, funding rate and
 * open interest), by the same rules: over the candles, or in a pane per named subplot; a
 * `step` holds each value until the next. */
export interface IndicatorGroup {
  readonly name: string;
  readonly indicators: readonly {
    readonly pane: string;
    readonly column: string;
    readonly kind: BotOverlay["indicators"][number]["kind"] | "step";
    readonly color: string;
    readonly points: readonly (readonly [number, number])[];
  }[];
}

/** Panes 0 (candles) and 1 (volume) are the chart's own; subplots come after. */
const FIRST_SUBPLOT_PANE = 2;

export class BotLayer {
  private overlays: readonly BotOverlay[] = [];
  private groups: readonly IndicatorGroup[] = [];
  private readonly series = new Map<string, IndicatorSeries>();
  private lines: IPriceLine[] = [];
  private markers: SeriesMarker<Time>[] = [];
  private drawnState: DrawnBots = { markers: [], priceLines: [], indicators: [] };

  constructor(
    private readonly chart: IChartApi,
    private readonly candles: ISeriesApi<"Candlestick">,
  ) {}

  set(overlays: readonly BotOverlay[]): void {
    this.overlays = overlays;
  }

  setGroups(groups: readonly IndicatorGroup[]): void {
    this.groups = groups;
  }

  /** Draw for the bars `held` (times the chart holds); returns the trade markers, which
   * the chart merges with its own. */
  render(held: (time: number) => boolean, colors: LayerColors): SeriesMarker<Time>[] {
    this.drawLines(colors);
    this.drawIndicators(held);
    this.markers = this.buildMarkers(held, colors);
    return this.markers;
  }

  /** The trades with an entry or exit at the candle `time`, as text. */
  tradesAt(time: number): string[] {
    const out: string[] = [];
    for (const overlay of this.overlays) {
      for (const trade of overlay.trades) {
        if (trade.entry_candle === time || trade.exit_candle === time) {
          out.push(tradeText(overlay.name, trade, overlay.stake_currency, time));
        }
      }
    }
    return out;
  }

  drawn(): DrawnBots {
    return this.drawnState;
  }

  private buildMarkers(held: (time: number) => boolean, colors: LayerColors): SeriesMarker<Time>[] {
    const markers: SeriesMarker<Time>[] = [];
    for (const overlay of this.overlays) {
      for (const trade of overlay.trades) {
        const long = trade.side === "long";
        if (held(trade.entry_candle)) {
          markers.push({
            id: `${overlay.name}:${trade.trade_id}:entry`,
            time: trade.entry_candle as UTCTimestamp,
            position: long ? "belowBar" : "aboveBar",
            shape: long ? "arrowUp" : "arrowDown",
            color: long ? colors.up : colors.down,
            text: trade.side,
          });
        }
        if (trade.exit_candle !== null && !trade.is_open && held(trade.exit_candle)) {
          const won = (trade.profit_ratio ?? 0) >= 0;
          markers.push({
            id: `${overlay.name}:${trade.trade_id}:exit`,
            time: trade.exit_candle as UTCTimestamp,
            position: long ? "aboveBar" : "belowBar",
            shape: "circle",
            color: won ? colors.up : colors.down,
            text: trade.exit_reason ?? "exit",
          });
        }
      }
    }
    markers.sort((a, b) => (a.time as number) - (b.time as number));
    this.drawnState = {
      ...this.drawnState,
      markers: markers.map((m) => ({ time: m.time as number, text: m.text ?? "", position: m.position })),
    };
    return markers;
  }

  private drawLines(colors: LayerColors): void {
    for (const line of this.lines) this.candles.removePriceLine(line);
    this.lines = [];
    const drawn: DrawnBots["priceLines"] = [];
    for (const overlay of this.overlays) {
      for (const trade of overlay.trades) {
        if (!trade.is_open) continue;
        const profit = profitText(trade, overlay.stake_currency);
        const title = `${overlay.name} #${trade.trade_id} ${trade.side} ${profit}`.trim();
        this.lines.push(
          this.candles.createPriceLine({
            price: trade.open_rate,
            color: (trade.profit_ratio ?? 0) >= 0 ? colors.up : colors.down,
            lineWidth: 1,
            lineStyle: LineStyle.Dashed,
            axisLabelVisible: true,
            title,
          }),
        );
        drawn.push({ price: trade.open_rate, title });
      }
    }
    this.drawnState = { ...this.drawnState, priceLines: drawn };
  }

  private drawIndicators(held: (time: number) => boolean): void {
    const subplots: string[] = [];
    const wanted = new Set<string>();
    const drawn: DrawnBots["indicators"] = [];
    for (const overlay of [...this.overlays, ...this.groups]) {
      for (const indicator of overlay.indicators) {
        const key = `${overlay.name}/${indicator.pane}/${indicator.column}`;
        let pane = 0;
        if (indicator.pane !== "main") {
          const subplot = `${overlay.name}/${indicator.pane}`;
          if (!subplots.includes(subplot)) subplots.push(subplot);
          pane = FIRST_SUBPLOT_PANE + subplots.indexOf(subplot);
        }
        wanted.add(key);
        let series = this.series.get(key);
        if (series !== undefined && series.getPane().paneIndex() !== pane) {
          this.chart.removeSeries(series);
          series = undefined;
        }
        if (series === undefined) {
          series = this.addSeries(indicator.kind, indicator.color, pane);
          this.series.set(key, series);
        }
        const points = indicator.points.filter(([t]) => held(t));
        series.setData(points.map(([t, v]) => ({ time: t as UTCTimestamp, value: v })));
        drawn.push({ key, pane, color: indicator.color, points: points.map(([t, v]) => [t, v]) });
      }
    }
    for (const [key, series] of this.series) {
      if (!wanted.has(key)) {
        this.chart.removeSeries(series);
        this.series.delete(key);
      }
    }
    // Subplot panes left empty go (the highest first, so the indices below stay valid).
    const panes = this.chart.panes();
    for (let i = panes.length - 1; i >= FIRST_SUBPLOT_PANE; i--) {
      if (panes[i].getSeries().length === 0) this.chart.removePane(i);
    }
    this.drawnState = { ...this.drawnState, indicators: drawn };
  }

  private addSeries(kind: string, color: string, pane: number): IndicatorSeries {
    const common = { color, priceLineVisible: false, lastValueVisible: false };
    if (kind === "bar") return this.chart.addSeries(HistogramSeries, common, pane);
    if (kind === "step") {
      // A rate of a few hundredths of a percent: at the default 2 decimals it reads 0.00.
      const priceFormat = { type: "price" as const, precision: 6, minMove: 0.000001 };
      return this.chart.addSeries(
        LineSeries,
        { ...common, lineWidth: 2, lineType: LineType.WithSteps, priceFormat },
        pane,
      );
    }
    return this.chart.addSeries(
      LineSeries,
      { ...common, lineWidth: 2, lineVisible: kind !== "scatter", pointMarkersVisible: kind === "scatter" },
      pane,
    );
  }
}
