/** The user's freqtrade bots as the server reads them (`/api/bots`): their states, and
 * their trades and indicators for the series on screen. */

import type { components } from "./api.schema";

type Schemas = components["schemas"];

export type BotInfo = Schemas["BotEntry"];
export type BotState = BotInfo["state"];
export type BotTrade = Schemas["TradeEntry"];
export type BotIndicator = Schemas["IndicatorEntry"];
export type BotOverlay = Schemas["OverlayResponse"];

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
export function profitText(trade: BotTrade, stake: string | null | undefined): string {
  if (trade.profit_ratio === null) return "";
  const pct = `${trade.profit_ratio >= 0 ? "+" : ""}${(trade.profit_ratio * 100).toFixed(2)}%`;
  if (trade.profit_abs === null) return pct;
  const abs = `${trade.profit_abs >= 0 ? "+" : ""}${trade.profit_abs.toPrecision(4)}`;
  return `${pct} (${abs}${stake ? ` ${stake}` : ""})`;
}

/** What the hover says of one trade at the candle under the cursor. */
export function tradeText(
  bot: string,
  trade: BotTrade,
  stake: string | null | undefined,
  time: number,
): string {
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
