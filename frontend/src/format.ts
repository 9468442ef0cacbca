import type { Candle } from "./types";

/** Decimals the prices need: the most any of the sampled prices shows, 0..10. */
export function pricePrecision(candles: readonly Candle[], sample = 500): number {
  let precision = 0;
  const start = Math.max(0, candles.length - sample);
  for (let i = start; i < candles.length; i++) {
    const c = candles[i];
    for (const price of [c.open, c.high, c.low, c.close]) {
      precision = Math.max(precision, decimals(price));
    }
  }
  return Math.min(precision, 10);
}

/** Decimals that show a price on a venue with this price tick (0.01 -> 2, 0.5 -> 1). */
export function tickPrecision(tick: number): number {
  return Math.min(decimals(tick), 10);
}

/**
 * The fewest decimals that show `value` exactly, up to float noise: 0.10440995000000001
 * (a price that went through arithmetic or a float32 file) needs 8, not 17.
 */
function decimals(value: number): number {
  if (!Number.isFinite(value) || Number.isInteger(value)) return 0;
  const tolerance = Math.abs(value) * 1e-12; // float64 noise, far below any real digit
  for (let d = 0; d < 12; d++) {
    const scale = 10 ** d;
    if (Math.abs(Math.round(value * scale) / scale - value) <= tolerance) return d;
  }
  return 12;
}

export function formatVolume(volume: number): string {
  const abs = Math.abs(volume);
  if (abs >= 1e9) return `${(volume / 1e9).toFixed(2)}B`;
  if (abs >= 1e6) return `${(volume / 1e6).toFixed(2)}M`;
  if (abs >= 1e3) return `${(volume / 1e3).toFixed(2)}K`;
  return volume.toFixed(abs >= 1 || abs === 0 ? 2 : 4);
}

/** `2024-01-02 03:04 UTC` (seconds shown only when the time has them). */
export function formatUtc(epochSeconds: number): string {
  const iso = new Date(epochSeconds * 1000).toISOString();
  const seconds = iso.slice(17, 19);
  return `${iso.slice(0, 10)} ${iso.slice(11, seconds === "00" ? 16 : 19)} UTC`;
}

export type TimeZoneChoice = "utc" | "local";

/** `formatUtc`, or the same in the browser's zone with its offset (`... 04:04 UTC+1`). */
export function formatTime(epochSeconds: number, zone: TimeZoneChoice): string {
  if (zone === "utc") return formatUtc(epochSeconds);
  const offsetMin = -new Date(epochSeconds * 1000).getTimezoneOffset();
  const shifted = formatUtc(epochSeconds + offsetMin * 60).slice(0, -4);
  if (offsetMin === 0) return `${shifted} UTC`;
  const sign = offsetMin > 0 ? "+" : "-";
  const abs = Math.abs(offsetMin);
  const minutes = abs % 60 ? `:${String(abs % 60).padStart(2, "0")}` : "";
  return `${shifted} UTC${sign}${Math.floor(abs / 60)}${minutes}`;
}

/** How long ago, for the "last update" label: `just now`, `12 s ago`, `3 min ago`... */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 2) return "just now";
  if (s < 120) return `${s} s ago`;
  const min = Math.floor(s / 60);
  if (min < 120) return `${min} min ago`;
  return `${Math.floor(min / 60)} h ago`;
}

export function legendText(c: Candle, precision: number, zone: TimeZoneChoice = "utc"): string {
  const p = (x: number) => x.toFixed(precision);
  const change = c.open === 0 ? 0 : ((c.close - c.open) / c.open) * 100;
  const sign = change > 0 ? "+" : "";
  return (
    `${formatTime(c.candle_time, zone)}  O ${p(c.open)}  H ${p(c.high)}  L ${p(c.low)}  ` +
    `C ${p(c.close)}  ${sign}${change.toFixed(2)}%  V ${formatVolume(c.volume)}`
  );
}
