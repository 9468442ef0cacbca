import type { CandleBook } from "./candleBook";
import type { ChartView } from "./chartView";
import { legendText, type TimeZoneChoice } from "./format";
import { rememberTimeZone, timeZoneChoice } from "./preferences";

interface LegendParts {
  readonly legend: HTMLDivElement;
  readonly tradeTip: HTMLDivElement;
  readonly latest: HTMLButtonElement;
  readonly zone: HTMLButtonElement;
  readonly chart: ChartView;
  readonly book: () => CandleBook;
  readonly seriesId: () => string | null;
  /** Values told beside the candle's at `time` (a futures contract's mark, funding rate and
   * open interest), each with its colour. */
  readonly extra?: (time: number | null, decimals: number) => { color: string; text: string }[];
}

/** What is written over the chart: the series and the candle under the cursor (else the
 * newest), the bots' trades at it, "go to latest", and the time zone it is told in. */
export class Legend {
  /** The candle time under the cursor, if any. */
  private hover: number | null = null;

  constructor(private readonly parts: LegendParts) {
    parts.latest.addEventListener("click", () => {
      parts.chart.goToLatest();
      requestAnimationFrame(() => this.showLatest());
    });
    parts.zone.addEventListener("click", () => {
      const zone: TimeZoneChoice = parts.chart.timeZone === "utc" ? "local" : "utc";
      rememberTimeZone(zone);
      this.applyTimeZone(zone);
    });
  }

  start(): void {
    this.applyTimeZone(timeZoneChoice());
  }

  /** The cursor moved over the candle at `time` (null: off the chart). */
  hovered(time: number | null): void {
    this.hover = time;
    this.show();
    this.showTrades();
  }

  /** A new series: nothing is under the cursor yet. */
  reset(): void {
    this.hover = null;
  }

  /** After a render: the legend follows the newest candle unless the cursor holds one. */
  rendered(reset: boolean): void {
    if (this.hover === null || reset) this.show();
  }

  show(): void {
    const { legend, chart } = this.parts;
    requestAnimationFrame(() => this.place());
    const book = this.parts.book();
    const candle = (this.hover !== null ? book.at(this.hover) : null) ?? book.last();
    legend.replaceChildren();
    const name = document.createElement("span");
    name.className = "title";
    name.textContent = this.parts.seriesId() ?? "";
    legend.append(name, candle ? legendText(candle, chart.precision, chart.timeZone) : "");
    const time = this.hover ?? candle?.candle_time ?? null;
    for (const entry of this.parts.extra?.(time, chart.precision) ?? []) {
      const span = document.createElement("span");
      span.className = "companion-value";
      span.style.setProperty("--swatch", entry.color);
      span.textContent = entry.text;
      legend.append(span);
    }
  }

  /** "Go to latest" while the newest candle is off screen; placed left of the price scale. */
  showLatest(): void {
    const { latest, chart } = this.parts;
    const away = !chart.atLatest();
    if (latest.hidden === away) latest.hidden = !away;
    if (away) latest.style.right = `${chart.priceScaleWidth() + 8}px`;
  }

  /** The legend ends where the price scale begins, however wide its prices make it; read
   * after the chart has laid out the frame just rendered. */
  private place(): void {
    const right = `${this.parts.chart.priceScaleWidth() + 8}px`;
    if (this.parts.legend.style.right !== right) this.parts.legend.style.right = right;
  }

  /** The bots' trades at the candle under the cursor: side, prices, exit reason, profit. */
  private showTrades(): void {
    const lines = this.hover === null ? [] : this.parts.chart.botTradesAt(this.hover);
    this.parts.tradeTip.hidden = lines.length === 0;
    this.parts.tradeTip.replaceChildren(
      ...lines.map((line) => {
        const div = document.createElement("div");
        div.textContent = line;
        return div;
      }),
    );
  }

  private applyTimeZone(zone: TimeZoneChoice): void {
    const { chart, zone: button } = this.parts;
    chart.setTimeZone(zone);
    button.textContent = zone === "utc" ? "UTC" : "Local";
    button.title = zone === "utc" ? "Times in UTC; click for your local time" : "Times in your local zone; click for UTC";
    button.setAttribute("aria-label", `Time zone: ${zone === "utc" ? "UTC" : "local"}`);
    this.show();
  }
}
