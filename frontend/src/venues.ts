import type { SeriesParts, Timeframe } from "./series";
import type { ExchangeInfo } from "./types";

/**
 * What the server says of its venues (`GET /api/market/exchanges`): their markets, the
 * timeframes each offers, the symbols each lists and their price ticks. Until it has
 * answered (or for a venue it does not name) nothing is ruled out.
 */
export class Venues {
  private constructor(
    private readonly list: readonly ExchangeInfo[],
    private readonly timeframes: ReadonlyMap<string, ReadonlySet<string>>,
    private readonly ticks: ReadonlyMap<string, number>,
  ) {}

  static readonly unknown = new Venues([], new Map(), new Map());

  static from(list: readonly ExchangeInfo[]): Venues {
    const timeframes = new Map<string, Set<string>>();
    const ticks = new Map<string, number>();
    for (const venue of list) {
      const offered = new Set<string>();
      for (const market of venue.markets) {
        for (const tf of market.timeframes) offered.add(tf);
        for (const s of market.symbols) {
          if (s.price_tick) ticks.set(key(venue.exchange, market.market, s.symbol), s.price_tick);
        }
      }
      timeframes.set(venue.exchange, offered);
    }
    return new Venues(list, timeframes, ticks);
  }

  names(): string[] {
    return this.list.map((v) => v.exchange);
  }

  /** The venue's name as people write it (`OKX`), from the server, else capitalised. */
  title(exchange: string): string {
    const title = this.list.find((v) => v.exchange === exchange)?.title;
    return title ?? exchange.charAt(0).toUpperCase() + exchange.slice(1);
  }

  offers(exchange: string, timeframe: Timeframe): boolean {
    return this.timeframes.get(exchange)?.has(timeframe) ?? true;
  }

  tick(parts: SeriesParts): number | null {
    return this.ticks.get(key(parts.exchange, parts.market, parts.symbol)) ?? null;
  }

  lists(exchange: string, market: string, symbol: string): boolean {
    return this.symbols(exchange, market).includes(symbol);
  }

  /** The pair a venue's own symbol (`ETHBTC`) names in a market, if it lists one. */
  symbolOf(exchange: string, market: string, exchangeSymbol: string): string | null {
    const venue = this.list.find((v) => v.exchange === exchange);
    const listed = venue?.markets.find((m) => m.market === market)?.symbols;
    return listed?.find((s) => s.exchange_symbol.toUpperCase() === exchangeSymbol)?.symbol ?? null;
  }

  symbols(exchange: string, market: string): string[] {
    const venue = this.list.find((v) => v.exchange === exchange);
    return venue?.markets.find((m) => m.market === market)?.symbols.map((s) => s.symbol) ?? [];
  }
}

function key(exchange: string, market: string, symbol: string): string {
  return `${exchange}:${market}:${symbol}`;
}
