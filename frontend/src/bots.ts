/** The user's freqtrade bots as the server reads them (`/api/bots`): their states, and
 * their trades and indicators for the series on screen. */

export type BotState = "ok" | "down" | "unauthorized" | "error";

export interface BotInfo {
  readonly name: string;
  readonly url: string;
  readonly state: BotState;
  readonly reason: string | null;
  readonly exchange: string | null;
  readonly market: string | null;
  readonly timeframe: string | null;
  readonly strategy: string | null;
  readonly bot_state: string | null;
  readonly dry_run: boolean | null;
  readonly open_trades: number;
  readonly closed_trades: number;
}

export interface BotTrade {
  readonly trade_id: number;
  readonly side: "long" | "short";
  readonly is_open: boolean;
  readonly open_time: number;
  readonly open_rate: number;
  readonly entry_candle: number;
  readonly exit_candle: number | null;
  readonly close_rate: number | null;
  readonly profit_ratio: number | null;
  readonly profit_abs: number | null;
  readonly exit_reason: string | null;
  readonly enter_tag: string | null;
  readonly current_rate: number | null;
}

export interface BotIndicator {
  readonly column: string;
  readonly pane: string; // "main" or a subplot's name
  readonly color: string;
  readonly kind: "line" | "bar" | "scatter";
  readonly points: readonly (readonly [number, number])[];
}

export interface BotOverlay extends BotInfo {
  readonly series_id: string;
  readonly note: string | null;
  readonly stake_currency: string | null;
  readonly trades: readonly BotTrade[];
  readonly indicators: readonly BotIndicator[];
}

/** One line on the bot: what it runs, or why it cannot be read. */
export function botSummary(bot: BotInfo): string {
  if (bot.state !== "ok") {
    const what = bot.state === "unauthorized" ? "wrong username or password" : bot.state;
    return bot.reason && bot.state !== "unauthorized" ? `${what}: ${bot.reason}` : what;
  }
  const runs = [bot.strategy, bot.exchange, bot.market, bot.timeframe].filter(Boolean).join(" · ");
  const mode = bot.dry_run ? "dry run" : "live";
  return `${runs} · ${bot.bot_state ?? "?"} (${mode})`;
}

/** "+0.52% (+0.26 USDT)": a trade's profit, realised or at the current rate. */
export function profitText(trade: BotTrade, stake: string | null): string {
  if (trade.profit_ratio === null) return "";
  const pct = `${trade.profit_ratio >= 0 ? "+" : ""}${(trade.profit_ratio * 100).toFixed(2)}%`;
  if (trade.profit_abs === null) return pct;
  const abs = `${trade.profit_abs >= 0 ? "+" : ""}${trade.profit_abs.toPrecision(4)}`;
  return `${pct} (${abs}${stake ? ` ${stake}` : ""})`;
}

/** What the hover says of one trade at the candle under the cursor. */
export function tradeText(bot: string, trade: BotTrade, stake: string | null, time: number): string {
  const parts = [`${bot} #${trade.trade_id} ${trade.side}`];
  if (trade.entry_candle === time) {
    parts.push(`entry ${trade.open_rate}${trade.enter_tag ? ` (${trade.enter_tag})` : ""}`);
  }
  if (trade.exit_candle === time && trade.close_rate !== null) {
    parts.push(`exit ${trade.close_rate}${trade.exit_reason ? ` ${trade.exit_reason}` : ""}`);
  }
  if (trade.is_open) parts.push("open");
  const profit = profitText(trade, stake);
  if (profit) parts.push(profit);
  return parts.join(" · ");
}
