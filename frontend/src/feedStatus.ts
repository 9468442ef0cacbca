import { formatAge, formatUtc } from "./format";
import type { SeriesStatus } from "./types";

/**
 * The header's words for a series' feed, from the server's status: what the exchange
 * side is doing, never the browser's own socket (that is the connection badge).
 */
export interface FeedLabel {
  readonly text: string;
  /** The reason in full (a tooltip). */
  readonly detail: string;
}

/** `newestClose`: when the newest candle on the chart closed (epoch seconds), if any. */
export function feedLabel(status: SeriesStatus, newestClose: number | null, nowMs: number): FeedLabel {
  const reason = status.reason ?? "";
  const head = status.head_time ?? null; // absent: none stored
  const newest = head === null ? "no candles stored" : `newest candle ${formatUtc(head)}`;
  switch (status.state) {
    case "streaming": {
      const age = newestClose === null ? "" : ` · last close ${formatAge(nowMs - newestClose * 1000)}`;
      return { text: `streaming from the exchange${age}`, detail: reason };
    }
    case "starting":
      return { text: reason ? `starting: ${reason}` : "starting", detail: reason };
    case "retrying":
      return { text: "exchange unreachable, retrying", detail: reason };
    case "unavailable":
      return { text: "not listed by the exchange", detail: reason };
    case "download_failed":
      return { text: `download failed · ${newest}`, detail: reason };
    case "history_failed":
      return { text: `history file unreadable · ${newest}`, detail: reason };
    case "live_off":
      return { text: `live ingest off · ${newest}`, detail: reason };
    case "history_only":
      return { text: `history only · ${newest}`, detail: reason };
    case "conflict":
      return { text: "not served: its stored candles came from another exchange endpoint", detail: reason };
  }
}

/** Why a series shows no candles, in one sentence. */
export function emptyMessage(seriesId: string, status: SeriesStatus | null): string {
  if (status === null) return `No candles are stored for ${seriesId} yet.`;
  switch (status.state) {
    case "streaming":
    case "starting":
      return `No candles are stored for ${seriesId} yet; waiting for live data.`;
    case "retrying":
      return `No candles are stored for ${seriesId}, and the exchange cannot be reached (retrying): ${status.reason ?? ""}`;
    default:
      return `No candles are stored for ${seriesId}: ${status.reason ?? status.state}.`;
  }
}
