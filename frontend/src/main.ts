/** The chart page's entry: it builds the page's parts and wires them to each other. Each
 * part keeps its own state; nothing lives at module level. */

import "./style.css";
import { MarketApi } from "./api";
import { BotPanel } from "./botPanel";
import { ChartView } from "./chartView";
import { CompanionPanel } from "./companionPanel";
import { MarketController } from "./controller";
import { Legend } from "./legend";
import { MarketSocket } from "./marketSocket";
import { pageElements } from "./page";
import { SeriesPicker } from "./picker";
import { rememberSeries, rememberedSeries, seriesFromUrl } from "./preferences";
import { NO_PROBE } from "./probe";
import { formatSeriesId, parseSeriesId } from "./series";
import { StatusBar } from "./statusBar";
import { ThemeSwitch } from "./theme";
import type { SeriesInfo } from "./types";
import { Venues } from "./venues";

const DEFAULT_SERIES = "binance:spot:BTC/USDT:1m";
const STATUS_EVERY_MS = 5000;

async function start(): Promise<void> {
  // The end-to-end tests' build (`vite build --mode e2e`) measures the page and exposes a
  // hook to read it; the production build leaves both out.
  const hooks = import.meta.env.MODE === "e2e" ? await import("./testHook") : null;
  const metrics = hooks ? new hooks.PageMetrics() : null;
  const probe = metrics ?? NO_PROBE;
  const ui = pageElements();
  const api = new MarketApi();
  const status = new StatusBar(ui);
  const theme = new ThemeSwitch(ui.theme, (colors) => chart.setTheme(colors));
  const socket = new MarketSocket({
    url: `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/market`,
    onMessage: (message) => {
      probe.messageArrived(message);
      controller.handle(message);
    },
    onState: (state) => {
      status.connection(state);
      if (state === "live") {
        controller.retryIfFailed();
        void controller.refreshStatus();
      }
    },
  });
  const chart = new ChartView(
    ui.chart,
    theme.colors(),
    () => void controller.loadOlder(),
    (time) => legend.hovered(time),
    () => requestAnimationFrame(() => legend.showLatest()),
  );
  const controller = new MarketController(api, socket, {
    render: (change, book) => {
      chart.render(change, book);
      if (change.kind === "reset") probe.drawn(book.size);
      else if (change.kind === "bar") probe.barUpdated(change.candle);
      legend.rendered(change.kind === "reset");
    },
    problem: (problem) => status.problem(problem),
    loading: (what) => status.loading(what),
    touched: () => status.feed(controller),
    status: (now) => {
      chart.markHoles(now?.holes ?? []);
      status.feed(controller);
    },
    reachedStart: (firstTime) => chart.markHistoryStart(firstTime),
  });
  const legend = new Legend({
    ...ui,
    chart,
    book: () => controller.book,
    seriesId: () => controller.seriesId,
    extra: (time, decimals) => companions.legendAt(time, decimals),
  });
  const companions = new CompanionPanel({
    api,
    box: ui.companions,
    seriesId: () => controller.seriesId,
    show: (lines) => {
      chart.setCompanions(lines);
      legend.show();
    },
  });
  const botPanel = new BotPanel({
    api,
    button: ui.bots,
    panel: ui.botsPanel,
    seriesId: () => controller.seriesId,
    show: (overlays) => chart.setBots(overlays),
  });
  const picker = new SeriesPicker({
    ...ui,
    form: ui.picker,
    shown: () => controller.seriesId,
    choose: (seriesId) => void open(seriesId, true),
  });

  async function open(seriesId: string, push: boolean): Promise<void> {
    rememberSeries(seriesId, push);
    picker.show(seriesId);
    chart.setPriceTick(picker.priceTick(seriesId));
    legend.reset();
    probe.opened();
    const opening = controller.open(seriesId);
    botPanel.seriesChanged();
    companions.seriesChanged();
    await opening;
  }

  /** The exchange picker, timeframes and ticks as the server's venues say. */
  async function loadVenues(): Promise<void> {
    try {
      picker.setVenues(Venues.from(await api.exchanges()));
    } catch {
      return; // the picker the server filled in stays; nothing is ruled out
    }
    const shown = controller.seriesId;
    const parts = shown ? parseSeriesId(shown) : null;
    if (shown && parts && !picker.offers(shown)) {
      // Chosen before the venues were known (e.g. 8h kept on a switch to Bybit, which has
      // none): the venue's 1m instead, as a choice made now would have been.
      void open(formatSeriesId({ ...parts, timeframe: "1m" }), false);
    } else if (shown) {
      picker.show(shown);
      chart.setPriceTick(picker.priceTick(shown));
    }
  }

  async function firstSeries(): Promise<string> {
    const chosen = seriesFromUrl() ?? rememberedSeries();
    const listing = api.series().then(
      (series) => {
        picker.setSeries(series);
        const shown = controller.seriesId;
        if (shown) {
          picker.show(shown);
          // The listing may arrive after the chosen series opened: its tick applies now.
          chart.setPriceTick(picker.priceTick(shown));
        }
        return series;
      },
      () => [] as SeriesInfo[],
    );
    if (chosen) return chosen;
    await listing;
    return picker.preferred(DEFAULT_SERIES);
  }

  window.addEventListener("popstate", () => {
    const id = seriesFromUrl();
    if (id && id !== controller.seriesId) void open(id, false);
  });
  theme.apply();
  legend.start();
  setInterval(() => status.feed(controller), 1000);
  setInterval(() => void controller.refreshStatus(), STATUS_EVERY_MS);
  socket.start();
  botPanel.start();
  if (hooks && metrics) {
    hooks.exposeTestHook({
      controller, socket, chart, metrics, botPanel, companions, open: (id) => open(id, true),
    });
  }
  void firstSeries().then((id) => open(id, false));
  void loadVenues();
}

void start();
