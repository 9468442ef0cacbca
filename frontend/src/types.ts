/** The contract's shapes (../shared/CONTRACT.md), as the server sends them. */

export interface Candle {
  readonly candle_time: number; // open time, UTC epoch seconds
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
}

export interface CandlesPage {
  readonly series_id: string;
  readonly server_head_time: number | null;
  readonly candles: Candle[];
}

/** `GET /api/market/status`: what is true of a series' feed now. */
export interface SeriesStatus {
  readonly series_id: string;
  readonly state:
    | "streaming"
    | "starting"
    | "retrying"
    | "unavailable"
    | "download_failed"
    | "history_failed"
    | "live_off"
    | "history_only"
    | "conflict";
  readonly reason: string | null;
  readonly head_time: number | null;
  /** Ranges of candles the store lacks between its first and its head. */
  readonly hole_count?: number;
  /** The newest holes, newest first: open times of the first and last candle lacking. */
  readonly holes?: readonly Hole[];
}

export interface Hole {
  readonly from: number;
  readonly to: number;
  readonly candles: number;
}

export interface SeriesInfo {
  readonly series_id: string;
  readonly first_time: number | null;
  readonly head_time: number | null;
  readonly count: number;
  readonly live: boolean;
  readonly price_tick?: number | null;
  readonly status?: Omit<SeriesStatus, "series_id"> | null;
  readonly datadir_files?: { path: string; format: string; problem: string | null }[] | null;
}

export type ServerMessage =
  | {
      type: "catchup";
      series_id: string;
      server_head_time: number | null;
      candles: Candle[];
      truncated?: boolean;
    }
  | { type: "candle_closed"; series_id: string; candle: Candle }
  | { type: "candle_forming"; series_id: string; candle: Candle; event_time?: number }
  | { type: "gap"; series_id: string; expected_next_time: number; actual_time: number }
  | { type: "error"; code: string; message: string; series_id?: string | null }
  | { type: "pong" };

export interface SymbolInfo {
  readonly symbol: string;
  readonly exchange_symbol: string;
  readonly price_tick: number | null;
  readonly amount_step: number | null;
}

export interface MarketInfo {
  readonly market: string;
  readonly timeframes: string[];
  readonly symbols: SymbolInfo[];
  readonly catalog_error?: string | null;
}

/** One entry of `GET /api/market/exchanges`. */
export interface ExchangeInfo {
  readonly exchange: string;
  readonly title?: string; // as people write it ("OKX"); older servers leave it out
  readonly markets: MarketInfo[];
}
