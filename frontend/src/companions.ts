import type { Candle } from "./types";

/** A futures contract's companion series, which the server keeps beside its candles: the
 * mark price (a line over the candles), the funding rate and the open interest (a pane
 * each). Pure: which series, and what is drawn of their rows. */

export type CompanionKind = "mark" | "funding_rate" | "open_interest";

export interface Companion {
  readonly kind: CompanionKind;
  /** The timeframe the server keeps it at (freqtrade's, and the venues' finest sample). */
  readonly timeframe: string;
  /** Its name in the toggles, the legend and its pane. */
  readonly label: string;
  readonly color: string;
  /** Over the candles ("main"), else the pane it is drawn in. */
  readonly pane: string;
  readonly draw: "line" | "step";
}

export const COMPANIONS: readonly Companion[] = [
  { kind: "mark", timeframe: "1h", label: "Mark", color: "#8e44ad", pane: "main", draw: "line" },
  {
    kind: "funding_rate",
    timeframe: "1h",
    label: "Funding",
    color: "#16a085",
    pane: "Funding rate",
    draw: "step",
  },
  {
    kind: "open_interest",
    timeframe: "5m",
    label: "Open interest",
    color: "#d35400",
    pane: "Open interest",
    draw: "line",
  },
];

/** What a venue did not report (Bybit's open interest value), as the server stores it. */
const UNREPORTED = -1;

/** The companion's series id for the futures series `seriesId`; null for any other. */
export function companionId(seriesId: string, companion: Companion): string | null {
  const [exchange, market, ...rest] = seriesId.split(":");
  if (market !== "futures" || rest.length < 3) return null;
  const symbol = rest.slice(0, -1).join(":");
  return `${exchange}:${companion.kind}:${symbol}:${companion.timeframe}`;
}

/** The value drawn of each row: the mark at the hour's start (its open), the funding rate,
 * the open interest's amount (a sample that has none is left out). */
export function companionPoints(companion: Companion, rows: readonly Candle[]): [number, number][] {
  const points: [number, number][] = [];
  for (const row of rows) {
    const value = row.open;
    if (companion.kind === "open_interest" && value === UNREPORTED) continue;
    points.push([row.candle_time, value]);
  }
  return points;
}

/** The newest point at or before `time` (what held then), or null. */
export function valueAt(points: readonly [number, number][], time: number): number | null {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid][0] <= time) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? null : points[lo - 1][1];
}

/** The legend's text of a companion's value. */
export function companionText(companion: Companion, value: number, decimals: number): string {
  if (companion.kind === "funding_rate") return `${(value * 100).toFixed(4)}%`;
  if (companion.kind === "open_interest") {
    return value.toLocaleString("en-US", { maximumFractionDigits: 2 });
  }
  return decimals >= 0 ? value.toFixed(decimals) : String(value);
}
