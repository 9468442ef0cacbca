import {
  CandlestickSeries,
  ColorType,
  createChart,
  HistogramSeries,
  type CandlestickData,
  type HistogramData,
  type IChartApi,
  type ISeriesApi,
  type Time,
  type UTCTimestamp,
} from "lightweight-charts";
import { formatUtc, pricePrecision } from "./format";
import type { Candle } from "./types";

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

/** Bars from the left edge at which older history is asked for. */
const LEFT_EDGE_BARS = 30;

export class ChartView {
  private readonly chart: IChartApi;
  private readonly candles: ISeriesApi<"Candlestick">;
  private readonly volume: ISeriesApi<"Histogram">;
  private theme: ChartTheme;
  private precision = -1;

  constructor(
    container: HTMLElement,
    theme: ChartTheme,
    private readonly onNearLeftEdge: () => void,
    onCrosshair: (time: number | null) => void,
  ) {
    this.theme = theme;
    this.chart = createChart(container, {
      autoSize: true,
      layout: { attributionLogo: true, fontSize: 12 },
      timeScale: { timeVisible: true, secondsVisible: false, rightOffset: 6 },
      // Times are UTC epoch seconds and are shown as UTC, whatever the browser's zone.
      localization: { timeFormatter: (time: Time) => formatUtc(time as number) },
      crosshair: { mode: 0 },
    });
    this.candles = this.chart.addSeries(CandlestickSeries, { borderVisible: false });
    this.volume = this.chart.addSeries(
      HistogramSeries,
      { priceFormat: { type: "volume" }, priceLineVisible: false, lastValueVisible: false },
      1,
    );
    this.chart.panes()[0].setStretchFactor(3);
    this.chart.panes()[1].setStretchFactor(1);
    this.applyTheme(theme);
    this.chart.timeScale().subscribeVisibleLogicalRangeChange((range) => {
      if (range !== null && range.from < LEFT_EDGE_BARS) this.onNearLeftEdge();
    });
    this.chart.subscribeCrosshairMove((param) => {
      onCrosshair(param.time === undefined ? null : (param.time as number));
    });
  }

  /** Replace the data; `prepended` older bars keep the view on the bars it showed. */
  setBars(bars: readonly Candle[], prepended: number): void {
    const timeScale = this.chart.timeScale();
    const range = prepended > 0 ? timeScale.getVisibleLogicalRange() : null;
    this.updatePrecision(bars);
    const candleData: CandlestickData<Time>[] = new Array(bars.length);
    const volumeData: HistogramData<Time>[] = new Array(bars.length);
    for (let i = 0; i < bars.length; i++) {
      candleData[i] = this.candleBar(bars[i]);
      volumeData[i] = this.volumeBar(bars[i]);
    }
    this.candles.setData(candleData);
    this.volume.setData(volumeData);
    if (range !== null) {
      timeScale.setVisibleLogicalRange({ from: range.from + prepended, to: range.to + prepended });
    }
  }

  updateBar(candle: Candle, historical: boolean): void {
    this.candles.update(this.candleBar(candle), historical);
    this.volume.update(this.volumeBar(candle), historical);
  }

  setTheme(theme: ChartTheme, bars: readonly Candle[]): void {
    this.theme = theme;
    this.applyTheme(theme);
    this.setBars(bars, 0); // volume colours are per bar
  }

  /** Visible time range (for the test hook and the scroll-back position). */
  visibleTimes(): { from: number; to: number } | null {
    const range = this.chart.timeScale().getVisibleRange();
    return range ? { from: range.from as number, to: range.to as number } : null;
  }

  /** Move the view `bars` to the right (negative: back in time), as a drag would. */
  scrollBy(bars: number): void {
    const timeScale = this.chart.timeScale();
    const range = timeScale.getVisibleLogicalRange();
    if (range) timeScale.setVisibleLogicalRange({ from: range.from + bars, to: range.to + bars });
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
    const precision = pricePrecision(bars);
    if (precision === this.precision) return;
    this.precision = precision;
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
