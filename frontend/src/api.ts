import type { BotInfo, BotOverlay } from "./bots";
import type { Candle, CandlesPage, ExchangeInfo, SeriesInfo, SeriesStatus } from "./types";

/** A request the server refused, with the contract's error body; or no answer at all. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number | null,
    /** When the server said to ask again (`Retry-After`, seconds), if it did. */
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/**
 * When a failed request is worth asking again by itself: the server said it cannot answer
 * whole yet (a 503 with `Retry-After`, e.g. `history_pending` while a series' history is
 * imported), never a refusal that would only repeat. Milliseconds, or null.
 */
export function retryDelayMs(error: unknown): number | null {
  if (!(error instanceof ApiError) || error.status !== 503 || error.retryAfterS === null) {
    return null;
  }
  return Math.max(1, error.retryAfterS) * 1000;
}

function retryAfterOf(response: Response): number | null {
  const value = Number(response.headers.get("Retry-After"));
  return Number.isFinite(value) && value >= 0 ? value : null;
}

export interface CandlesQuery {
  readonly limit: number;
  readonly since?: number;
  readonly before?: number;
}

/** Most candles the server returns per request (the contract's `limit` bound). */
export const MAX_LIMIT = 5000;

export class MarketApi {
  constructor(private readonly baseUrl: string = "") {}

  async candles(seriesId: string, query: CandlesQuery, signal?: AbortSignal): Promise<CandlesPage> {
    const params = new URLSearchParams({ series_id: seriesId, limit: String(query.limit) });
    if (query.since !== undefined) params.set("since", String(query.since));
    if (query.before !== undefined) params.set("before", String(query.before));
    return this.getJson<CandlesPage>(`/api/market/candles?${params}`, signal);
  }

  /** Every stored candle after `since`, page by page (a gap or a truncated catchup). */
  async *candlesSince(
    seriesId: string,
    since: number,
    signal?: AbortSignal,
  ): AsyncGenerator<readonly Candle[]> {
    let after = since;
    for (;;) {
      const page = await this.candles(seriesId, { limit: MAX_LIMIT, since: after }, signal);
      if (page.candles.length) yield page.candles;
      if (page.candles.length < MAX_LIMIT) return;
      after = page.candles[page.candles.length - 1].candle_time;
    }
  }

  async status(seriesId: string, signal?: AbortSignal): Promise<SeriesStatus> {
    const params = new URLSearchParams({ series_id: seriesId });
    return this.getJson<SeriesStatus>(`/api/market/status?${params}`, signal);
  }

  async series(signal?: AbortSignal): Promise<SeriesInfo[]> {
    const body = await this.getJson<{ series: SeriesInfo[] }>("/api/market/series", signal);
    return body.series;
  }

  async exchanges(signal?: AbortSignal): Promise<ExchangeInfo[]> {
    const body = await this.getJson<{ exchanges: ExchangeInfo[] }>("/api/market/exchanges", signal);
    return body.exchanges;
  }

  /** The user's freqtrade bots and their states (`TRADE_CANVAS_BOTS`). */
  async bots(signal?: AbortSignal): Promise<BotInfo[]> {
    const body = await this.getJson<{ bots: BotInfo[] }>("/api/bots", signal);
    return body.bots;
  }

  /** What bot `bot` puts on the chart of `seriesId`: its trades and indicators. */
  async botOverlay(bot: string, seriesId: string, signal?: AbortSignal): Promise<BotOverlay> {
    const params = new URLSearchParams({ series_id: seriesId });
    return this.getJson<BotOverlay>(`/api/bots/${encodeURIComponent(bot)}/overlay?${params}`, signal);
  }

  private async getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.baseUrl + path, { signal, headers: { Accept: "application/json" } });
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") throw e;
      throw new ApiError("network", "the server did not answer", null);
    }
    if (response.ok) return (await response.json()) as T;
    let code = `http_${response.status}`;
    let message = response.statusText || `HTTP ${response.status}`;
    try {
      const body = (await response.json()) as { error_code?: string; message?: string };
      code = body.error_code ?? code;
      message = body.message ?? message;
    } catch {
      // not the contract's error body; keep the status line
    }
    throw new ApiError(code, message, response.status, retryAfterOf(response));
  }
}
