import "./style.css";
import { MarketApi } from "./api";
import { BotPanel } from "./botPanel";
import type { BookChange, CandleBook } from "./candleBook";
import { ChartView, THEMES } from "./chartView";
import { MarketController, type Problem } from "./controller";
import { feedLabel } from "./feedStatus";
import { legendText, type TimeZoneChoice } from "./format";
import { MarketSocket, type ConnectionState } from "./marketSocket";
import {
  rememberSeries,
  rememberTheme,
  rememberTimeZone,
  rememberedSeries,
  seriesFromUrl,
  themeChoice,
  timeZoneChoice,
  type ThemeChoice,
} from "./preferences";
import { exposeTestHook, PageMetrics } from "./testHook";
import {
  formatSeriesId,
  isTimeframe,
  normalizeSymbol,
  parseSeriesId,
  TIMEFRAMES,
  timeframeSeconds,
  type Market,
  type Timeframe,
} from "./series";
import type { SeriesInfo, ServerMessage } from "./types";
import { resolveSymbol, UserData, type Held } from "./userData";
import { Venues } from "./venues";

const DEFAULT_SERIES = "binance:spot:BTC/USDT:1m";
const STATUS_EVERY_MS = 5000;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`page is missing #${id}`);
  return found as T;
}

const ui = {
  picker: element<HTMLFormElement>("picker"),
  exchange: element<HTMLSelectElement>("exchange"),
  market: element<HTMLSelectElement>("market"),
  symbol: element<HTMLInputElement>("symbol"),
  symbols: element<HTMLDataListElement>("symbols"),
  timeframes: element<HTMLDivElement>("timeframes"),
  connection: element<HTMLSpanElement>("connection"),
  feed: element<HTMLSpanElement>("feed"),
  theme: element<HTMLButtonElement>("theme"),
  legend: element<HTMLDivElement>("legend"),
  chart: element<HTMLDivElement>("chart"),
  problem: element<HTMLDivElement>("problem"),
  problemText: element<HTMLSpanElement>("problem-text"),
  problemClose: element<HTMLButtonElement>("problem-close"),
  loading: element<HTMLDivElement>("loading"),
  latest: element<HTMLButtonElement>("latest"),
  zone: element<HTMLButtonElement>("zone"),
  bots: element<HTMLButtonElement>("bots"),
  botsPanel: element<HTMLDivElement>("bots-panel"),
  tradeTip: element<HTMLDivElement>("trade-tip"),
};

const metrics = new PageMetrics();
const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");
let theme: ThemeChoice = themeChoice();
let knownSeries: SeriesInfo[] = [];
let venues = Venues.unknown;
let userData = UserData.none;

/** The venue's price tick for a series: from the series listing, else from the venue's
 * market list (which the server fetches for `/api/market/exchanges` if need be). */
function priceTick(seriesId: string): number | null {
  const listed = knownSeries.find((s) => s.series_id === seriesId)?.price_tick;
  const parts = parseSeriesId(seriesId);
  return listed ?? (parts ? venues.tick(parts) : null);
}
let hoverTime: number | null = null;

const api = new MarketApi();
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/market`;
const socket = new MarketSocket({
  url: wsUrl,
  onMessage: (message: ServerMessage) => {
    metrics.messageArrived(message);
    controller.handle(message);
  },
  onState: showConnection,
});
const chart = new ChartView(
  ui.chart,
  THEMES[effectiveTheme()],
  () => void controller.loadOlder(),
  (time) => {
    hoverTime = time;
    showLegend();
    showTrades();
  },
  () => requestAnimationFrame(showLatest),
);
const controller = new MarketController(api, socket, {
  render,
  problem: showProblem,
  loading: (what) => {
    ui.loading.hidden = what === null;
    ui.loading.textContent = what === "older" ? "loading older candles…" : "loading…";
  },
  touched: () => showFeed(),
  status: (status) => {
    chart.markHoles(status?.holes ?? []);
    showFeed();
  },
  reachedStart: (firstTime) => chart.markHistoryStart(firstTime),
});

const botPanel = new BotPanel({
  api,
  button: ui.bots,
  panel: ui.botsPanel,
  seriesId: () => controller.seriesId,
  show: (overlays) => chart.setBots(overlays),
});

/** The bots' trades at the candle under the cursor: side, prices, exit reason, profit. */
function showTrades(): void {
  const lines = hoverTime === null ? [] : chart.botTradesAt(hoverTime);
  ui.tradeTip.hidden = lines.length === 0;
  ui.tradeTip.replaceChildren(
    ...lines.map((line) => {
      const div = document.createElement("div");
      div.textContent = line;
      return div;
    }),
  );
}

function render(change: BookChange, book: CandleBook): void {
  chart.render(change, book);
  if (change.kind === "reset") {
    metrics.drawn(book.size);
  } else if (change.kind === "bar") {
    metrics.barUpdated(change.candle);
  }
  if (hoverTime === null || change.kind === "reset") showLegend();
}

/** The legend ends where the price scale begins, however wide its prices make it; read
 * after the chart has laid out the frame just rendered. */
function placeLegend(): void {
  const right = `${chart.priceScaleWidth() + 8}px`;
  if (ui.legend.style.right !== right) ui.legend.style.right = right;
}

function showLegend(): void {
  requestAnimationFrame(placeLegend);
  const book = controller.book;
  const candle = (hoverTime !== null ? book.at(hoverTime) : null) ?? book.last();
  const title = controller.seriesId ?? "";
  ui.legend.replaceChildren();
  const name = document.createElement("span");
  name.className = "title";
  name.textContent = title;
  ui.legend.append(name, candle ? legendText(candle, chart.precision, chart.timeZone) : "");
}

/** "Go to latest" while the newest candle is off screen; placed left of the price scale. */
function showLatest(): void {
  const away = !chart.atLatest();
  if (ui.latest.hidden === away) ui.latest.hidden = !away;
  if (away) ui.latest.style.right = `${chart.priceScaleWidth() + 8}px`;
}

ui.latest.addEventListener("click", () => {
  chart.goToLatest();
  requestAnimationFrame(showLatest);
});

function applyTimeZone(zone: TimeZoneChoice): void {
  chart.setTimeZone(zone);
  ui.zone.textContent = zone === "utc" ? "UTC" : "Local";
  ui.zone.title = zone === "utc" ? "Times in UTC; click for your local time" : "Times in your local zone; click for UTC";
  ui.zone.setAttribute("aria-label", `Time zone: ${zone === "utc" ? "UTC" : "local"}`);
  showLegend();
}

ui.zone.addEventListener("click", () => {
  const zone: TimeZoneChoice = chart.timeZone === "utc" ? "local" : "utc";
  rememberTimeZone(zone);
  applyTimeZone(zone);
});

function showProblem(problem: Problem | null): void {
  ui.problem.hidden = problem === null;
  ui.problemText.textContent = problem?.message ?? "";
  // A notice over a chart that still works can be put away; a blocking one cannot.
  ui.problemClose.hidden = problem === null || problem.blocking;
  ui.problem.dataset.code = problem?.code ?? "";
  ui.problem.dataset.blocking = String(problem?.blocking ?? false);
}

/** The browser's own socket to this server: "connected" says nothing of the exchange. */
function showConnection(state: ConnectionState): void {
  ui.connection.dataset.state = state;
  ui.connection.textContent = state === "live" ? "connected" : state;
  if (state === "live") {
    controller.retryIfFailed();
    void controller.refreshStatus();
  }
}

/** The series' feed as the server tells it, with the age of the newest close. */
function showFeed(): void {
  const status = controller.status;
  if (status === null) {
    ui.feed.textContent = "";
    ui.feed.dataset.state = "";
    ui.feed.title = "";
    return;
  }
  const tf = controller.seriesId ? parseSeriesId(controller.seriesId)?.timeframe : undefined;
  const last = controller.book.lastClosedTime;
  const newestClose = last === null || !tf ? null : last + timeframeSeconds(tf);
  const label = feedLabel(status, newestClose, Date.now());
  ui.feed.textContent = label.text;
  ui.feed.dataset.state = status.state;
  ui.feed.title = label.detail;
}

ui.problemClose.addEventListener("click", () => {
  ui.problem.hidden = true;
});

// -- theme ------------------------------------------------------------------------------

function effectiveTheme(): "light" | "dark" {
  if (theme === "system") return darkQuery.matches ? "dark" : "light";
  return theme;
}

function applyTheme(): void {
  const effective = effectiveTheme();
  document.documentElement.dataset.theme = effective;
  ui.theme.setAttribute("aria-label", `Theme: ${theme} (${effective})`);
  ui.theme.title = `Theme: ${theme}`;
  ui.theme.textContent = theme === "system" ? "◐" : theme === "dark" ? "☾" : "☀";
  chart.setTheme(THEMES[effective]);
}

ui.theme.addEventListener("click", () => {
  theme = theme === "system" ? "light" : theme === "light" ? "dark" : "system";
  rememberTheme(theme);
  applyTheme();
});
darkQuery.addEventListener("change", () => {
  if (theme === "system") applyTheme();
});

// -- series picker ----------------------------------------------------------------------

for (const tf of TIMEFRAMES) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = tf;
  button.dataset.timeframe = tf;
  button.setAttribute("aria-pressed", "false");
  button.addEventListener("click", () => choose({ timeframe: tf }));
  ui.timeframes.append(button);
}

function current(): { exchange: string; market: Market; symbol: string; timeframe: Timeframe } {
  const parts = controller.seriesId ? parseSeriesId(controller.seriesId) : null;
  return {
    exchange: ui.exchange.value || "binance",
    market: ui.market.value === "futures" ? "futures" : "spot",
    symbol: parts?.symbol ?? "BTC/USDT",
    timeframe: parts?.timeframe ?? "1m",
  };
}

function choose(change: {
  exchange?: string;
  market?: Market;
  symbol?: string;
  timeframe?: Timeframe;
}): void {
  const now = current();
  const exchange = change.exchange ?? now.exchange;
  let market = change.market ?? now.market;
  let symbol: string;
  if (change.market !== undefined) {
    symbol = normalizeSymbol(change.symbol ?? ui.symbol.value, market); // the market was chosen
  } else {
    const resolved = resolveSymbol(change.symbol ?? ui.symbol.value, exchange, market, venues, userData);
    if (!resolved) return;
    ({ market, symbol } = resolved);
  }
  if (!symbol) return;
  let timeframe = change.timeframe ?? now.timeframe;
  if (!venues.offers(exchange, timeframe)) timeframe = "1m"; // e.g. 8h on a venue without it
  const id = formatSeriesId({ exchange, market, symbol, timeframe });
  if (id !== controller.seriesId) void open(id, true);
  else showChoice(id); // what was typed, shown as the series it names
}

ui.picker.addEventListener("submit", (event) => {
  event.preventDefault();
  choose({ symbol: ui.symbol.value });
});
ui.symbol.addEventListener("change", () => choose({ symbol: ui.symbol.value }));
ui.exchange.addEventListener("change", () => {
  fillSymbols();
  choose({ exchange: ui.exchange.value });
});
ui.market.addEventListener("change", () => {
  fillSymbols();
  const symbol = current().symbol.split(":")[0];
  choose({ market: ui.market.value === "futures" ? "futures" : "spot", symbol });
});

function showChoice(seriesId: string): void {
  const parts = parseSeriesId(seriesId);
  if (parts) {
    ui.exchange.value = parts.exchange;
    ui.market.value = parts.market;
    ui.symbol.value = parts.symbol;
  } else {
    ui.symbol.value = seriesId;
  }
  const held = parts ? userData.timeframes(parts.exchange, parts.market, parts.symbol) : new Map();
  for (const button of ui.timeframes.querySelectorAll("button")) {
    button.setAttribute("aria-pressed", String(button.dataset.timeframe === parts?.timeframe));
    const tf = button.dataset.timeframe;
    button.hidden = Boolean(parts && tf && isTimeframe(tf) && !venues.offers(parts.exchange, tf));
    const mine = tf && isTimeframe(tf) ? held.get(tf) : undefined;
    button.dataset.held = mine ? (mine.inDatadir ? "datadir" : "stored") : "";
    button.title = mine ? heldText(mine) : "";
  }
  document.title = parts ? `${parts.symbol} ${parts.timeframe} · trade-canvas` : "trade-canvas";
  fillSymbols();
}

function heldText(held: Held): string {
  const stored = held.stored ? `${held.stored.toLocaleString("en-US")} candles stored` : "";
  return [held.inDatadir ? "in your datadir" : "", stored].filter(Boolean).join(", ");
}

/** The symbol suggestions: the pairs the user holds first, marked, then the venue's. */
function fillSymbols(): void {
  const exchange = ui.exchange.value;
  const market = ui.market.value;
  const mine = userData.symbols(exchange, market);
  const listed = venues.symbols(exchange, market).filter((s) => !mine.has(s));
  ui.symbols.replaceChildren(
    ...[...[...mine].sort(), ...listed.sort()].map((symbol) => {
      const option = document.createElement("option");
      option.value = symbol;
      if (mine.has(symbol)) option.label = "your data";
      return option;
    }),
  );
}

async function open(seriesId: string, push: boolean): Promise<void> {
  rememberSeries(seriesId, push);
  showChoice(seriesId);
  chart.setPriceTick(priceTick(seriesId));
  hoverTime = null;
  metrics.opened();
  const opening = controller.open(seriesId);
  botPanel.seriesChanged();
  await opening;
}

window.addEventListener("popstate", () => {
  const id = seriesFromUrl();
  if (id && id !== controller.seriesId) void open(id, false);
});

// -- start ------------------------------------------------------------------------------

/** The exchange picker, timeframes and ticks as the server's venues say. */
async function loadVenues(): Promise<void> {
  try {
    venues = Venues.from(await api.exchanges());
  } catch {
    return; // the picker the server filled in stays; nothing is ruled out
  }
  const names = venues.names();
  if (names.length) {
    const chosen = ui.exchange.value;
    ui.exchange.replaceChildren(
      ...names.map((name) => {
        const option = document.createElement("option");
        option.value = name;
        option.textContent = venues.title(name);
        return option;
      }),
    );
    ui.exchange.value = names.includes(chosen) ? chosen : names[0];
  }
  const shown = controller.seriesId;
  const parts = shown ? parseSeriesId(shown) : null;
  if (shown && parts && !venues.offers(parts.exchange, parts.timeframe)) {
    // Chosen before the venues were known (e.g. 8h kept on a switch to Bybit, which has
    // none): the venue's 1m instead, as a choice made now would have been.
    void open(formatSeriesId({ ...parts, timeframe: "1m" }), false);
  } else if (shown) {
    showChoice(shown);
    chart.setPriceTick(priceTick(shown));
  }
}

async function firstSeries(): Promise<string> {
  const chosen = seriesFromUrl() ?? rememberedSeries();
  const listing = api.series().then(
    (series) => {
      knownSeries = series;
      userData = UserData.from(series);
      fillSymbols();
      if (controller.seriesId) showChoice(controller.seriesId);
      // The listing may arrive after the chosen series opened: its tick applies now.
      if (controller.seriesId) chart.setPriceTick(priceTick(controller.seriesId));
      return series;
    },
    () => [] as SeriesInfo[],
  );
  if (chosen) return chosen;
  const series = await listing;
  return userData.preferred() ?? series.find((s) => s.live)?.series_id ?? DEFAULT_SERIES;
}

applyTheme();
applyTimeZone(timeZoneChoice());
setInterval(showFeed, 1000);
setInterval(() => void controller.refreshStatus(), STATUS_EVERY_MS);
socket.start();
botPanel.start();
exposeTestHook({ controller, socket, chart, metrics, botPanel, open: (id) => open(id, true) });
void firstSeries().then((id) => open(id, false));
void loadVenues();
