import { formatSeriesId, isTimeframe, normalizeSymbol, parseSeriesId, TIMEFRAMES, type Market, type Timeframe } from "./series";
import type { SeriesInfo } from "./types";
import { resolveSymbol, UserData, type Held } from "./userData";
import { Venues } from "./venues";

interface PickerParts {
  readonly form: HTMLFormElement;
  readonly exchange: HTMLSelectElement;
  readonly market: HTMLSelectElement;
  readonly symbol: HTMLInputElement;
  readonly symbols: HTMLDataListElement;
  readonly timeframes: HTMLDivElement;
  /** The series on screen. */
  readonly shown: () => string | null;
  /** Open a series the user chose (pushed to the browser's history). */
  readonly choose: (seriesId: string) => void;
}

type Choice = { exchange: string; market: Market; symbol: string; timeframe: Timeframe };

/** The series picker: venue, market, symbol (the user's pairs first) and timeframe, as the
 * server's venues and the user's data say. */
export class SeriesPicker {
  private venues = Venues.unknown;
  private userData = UserData.none;
  private listed: SeriesInfo[] = [];

  constructor(private readonly parts: PickerParts) {
    for (const tf of TIMEFRAMES) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = tf;
      button.dataset.timeframe = tf;
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", () => this.choose({ timeframe: tf }));
      parts.timeframes.append(button);
    }
    parts.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.choose({ symbol: parts.symbol.value });
    });
    parts.symbol.addEventListener("change", () => this.choose({ symbol: parts.symbol.value }));
    parts.exchange.addEventListener("change", () => {
      this.fillSymbols();
      this.choose({ exchange: parts.exchange.value });
    });
    parts.market.addEventListener("change", () => {
      this.fillSymbols();
      const symbol = this.current().symbol.split(":")[0];
      this.choose({ market: parts.market.value === "futures" ? "futures" : "spot", symbol });
    });
  }

  /** The server's series listing arrived: the user's pairs and the listed ticks. */
  setSeries(series: SeriesInfo[]): void {
    this.listed = series;
    this.userData = UserData.from(series);
    this.fillSymbols();
  }

  /** The server's venues arrived: the exchange picker, timeframes and ticks as they say. */
  setVenues(venues: Venues): void {
    this.venues = venues;
    const names = venues.names();
    if (!names.length) return;
    const { exchange } = this.parts;
    const chosen = exchange.value;
    exchange.replaceChildren(
      ...names.map((name) => {
        const option = document.createElement("option");
        option.value = name;
        option.textContent = venues.title(name);
        return option;
      }),
    );
    exchange.value = names.includes(chosen) ? chosen : names[0];
  }

  /** Whether the venue of `seriesId` offers its timeframe (unknown venues offer all). */
  offers(seriesId: string): boolean {
    const parts = parseSeriesId(seriesId);
    return !parts || this.venues.offers(parts.exchange, parts.timeframe);
  }

  /** The venue's price tick for a series: from the series listing, else from the venue's
   * market list (which the server fetches for `/api/market/exchanges` if need be). */
  priceTick(seriesId: string): number | null {
    const listed = this.listed.find((s) => s.series_id === seriesId)?.price_tick;
    const parts = parseSeriesId(seriesId);
    return listed ?? (parts ? this.venues.tick(parts) : null);
  }

  /** The series to open when the user named none: their own data first, else a live one. */
  preferred(fallback: string): string {
    return this.userData.preferred() ?? this.listed.find((s) => s.live)?.series_id ?? fallback;
  }

  /** Show `seriesId` as chosen: the pickers, the timeframes the venue offers (the user's
   * marked), and the page's title. */
  show(seriesId: string): void {
    const { exchange, market, symbol, timeframes } = this.parts;
    const parts = parseSeriesId(seriesId);
    if (parts) {
      exchange.value = parts.exchange;
      market.value = parts.market;
      symbol.value = parts.symbol;
    } else {
      symbol.value = seriesId;
    }
    const held = parts ? this.userData.timeframes(parts.exchange, parts.market, parts.symbol) : new Map();
    for (const button of timeframes.querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(button.dataset.timeframe === parts?.timeframe));
      const tf = button.dataset.timeframe;
      button.hidden = Boolean(parts && tf && isTimeframe(tf) && !this.venues.offers(parts.exchange, tf));
      const mine = tf && isTimeframe(tf) ? held.get(tf) : undefined;
      button.dataset.held = mine ? (mine.inDatadir ? "datadir" : "stored") : "";
      button.title = mine ? heldText(mine) : "";
    }
    document.title = parts ? `${parts.symbol} ${parts.timeframe} · trade-canvas` : "trade-canvas";
    this.fillSymbols();
  }

  private current(): Choice {
    const shown = this.parts.shown();
    const parts = shown ? parseSeriesId(shown) : null;
    return {
      exchange: this.parts.exchange.value || "binance",
      market: this.parts.market.value === "futures" ? "futures" : "spot",
      symbol: parts?.symbol ?? "BTC/USDT",
      timeframe: parts?.timeframe ?? "1m",
    };
  }

  private choose(change: Partial<Choice>): void {
    const now = this.current();
    const exchange = change.exchange ?? now.exchange;
    let market = change.market ?? now.market;
    let symbol: string;
    const typed = change.symbol ?? this.parts.symbol.value;
    if (change.market !== undefined) {
      symbol = normalizeSymbol(typed, market); // the market was chosen
    } else {
      const resolved = resolveSymbol(typed, exchange, market, this.venues, this.userData);
      if (!resolved) return;
      ({ market, symbol } = resolved);
    }
    if (!symbol) return;
    let timeframe = change.timeframe ?? now.timeframe;
    if (!this.venues.offers(exchange, timeframe)) timeframe = "1m"; // e.g. 8h on a venue without it
    const id = formatSeriesId({ exchange, market, symbol, timeframe });
    if (id !== this.parts.shown()) this.parts.choose(id);
    else this.show(id); // what was typed, shown as the series it names
  }

  /** The symbol suggestions: the pairs the user holds first, marked, then the venue's. */
  private fillSymbols(): void {
    const exchange = this.parts.exchange.value;
    const market = this.parts.market.value;
    const mine = this.userData.symbols(exchange, market);
    const listed = this.venues.symbols(exchange, market).filter((s) => !mine.has(s));
    this.parts.symbols.replaceChildren(
      ...[...[...mine].sort(), ...listed.sort()].map((symbol) => {
        const option = document.createElement("option");
        option.value = symbol;
        if (mine.has(symbol)) option.label = "your data";
        return option;
      }),
    );
  }
}

function heldText(held: Held): string {
  const stored = held.stored ? `${held.stored.toLocaleString("en-US")} candles stored` : "";
  return [held.inDatadir ? "in your datadir" : "", stored].filter(Boolean).join(", ");
}
