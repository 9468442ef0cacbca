import type { BookChange, CandleBook } from "./candleBook";
import type { ServerMessage } from "./types";

/** What one server message asks of the page, beyond the book change already applied. */
export interface StreamOutcome {
  readonly change: BookChange;
  /** Re-read the store over HTTP for candles after this time (a gap, a truncated catchup). */
  readonly fetchSince?: number;
  /** A server-side problem with the series, for the user to see. */
  readonly problem?: { readonly code: string; readonly message: string };
  /** The message said something about the series' data (for the "last update" age). */
  readonly touched: boolean;
}

const IGNORED: StreamOutcome = { change: { kind: "none" }, touched: false };

/** Apply a message for `seriesId` to its book. Messages for other series are ignored. */
export function applyServerMessage(
  book: CandleBook,
  seriesId: string,
  message: ServerMessage,
): StreamOutcome {
  if (message.type === "pong") return IGNORED;
  if (message.type === "error") {
    if (message.series_id && message.series_id !== seriesId) return IGNORED;
    return { ...IGNORED, problem: { code: message.code, message: message.message } };
  }
  if (message.series_id !== seriesId) return IGNORED;
  switch (message.type) {
    case "catchup": {
      const change = book.mergeClosed(message.candles);
      const last = book.lastClosedTime;
      return message.truncated && last !== null
        ? { change, fetchSince: last, touched: true }
        : { change, touched: true };
    }
    case "candle_closed":
      return { change: book.applyClosed(message.candle), touched: true };
    case "candle_forming":
      return { change: book.applyForming(message.candle), touched: true };
    case "gap":
      // expected_next_time is the earliest candle this page may lack.
      return { change: { kind: "none" }, fetchSince: message.expected_next_time - 1, touched: true };
    default:
      return IGNORED;
  }
}
