import { describe, expect, it } from "vitest";
import { botSummary, profitText, tradeText, type BotInfo, type BotTrade } from "../src/bots";

const bot: BotInfo = {
  name: "alpha",
  url: "http://127.0.0.1:8080",
  state: "ok",
  reason: null,
  exchange: "binance",
  market: "spot",
  timeframe: "5m",
  strategy: "SampleStrategy",
  bot_state: "running",
  dry_run: true,
  open_trades: 1,
  closed_trades: 12,
  checked_at: 1_700_000_400,
};

const trade: BotTrade = {
  trade_id: 7,
  side: "long",
  is_open: false,
  open_time: 1_700_000_030,
  open_rate: 100.5,
  entry_candle: 1_700_000_000,
  exit_candle: 1_700_000_300,
  close_time: 1_700_000_330,
  close_rate: 101,
  profit_ratio: 0.00523,
  profit_abs: 0.2615,
  exit_reason: "roi",
  enter_tag: null,
  current_rate: null,
  stop_loss: null,
};

describe("botSummary", () => {
  it("says what a bot that answers runs", () => {
    expect(botSummary(bot)).toBe("SampleStrategy · binance · spot · 5m · running (dry run)");
  });

  it("says why a bot cannot be read, never its password", () => {
    expect(botSummary({ ...bot, state: "down", reason: "connection refused" })).toBe("down: connection refused");
    expect(botSummary({ ...bot, state: "unauthorized", reason: "the bot refused the username or password" })).toBe(
      "wrong username or password",
    );
  });
});

describe("trade text", () => {
  it("gives the profit as a percentage and in the stake currency", () => {
    expect(profitText(trade, "USDT")).toBe("+0.52% (+0.2615 USDT)");
    expect(profitText({ ...trade, profit_ratio: -0.01, profit_abs: -0.5 }, null)).toBe("-1.00% (-0.5000)");
    expect(profitText({ ...trade, profit_ratio: null }, "USDT")).toBe("");
  });

  it("names the entry at the entry candle and the exit with its reason at the exit candle", () => {
    expect(tradeText("alpha", trade, "USDT", 1_700_000_000)).toBe("alpha #7 long · entry 100.5 · +0.52% (+0.2615 USDT)");
    expect(tradeText("alpha", trade, "USDT", 1_700_000_300)).toBe("alpha #7 long · exit 101 roi · +0.52% (+0.2615 USDT)");
    const open = { ...trade, is_open: true, exit_candle: null, close_rate: null };
    expect(tradeText("alpha", open, "USDT", 1_700_000_000)).toContain("entry 100.5 · open");
  });
});
