import { ApiError, MAX_LIMIT, retryDelayMs, type MarketApi } from "./api";
import { CandleBook, type BookChange } from "./candleBook";
import type { MarketSocket } from "./marketSocket";
import { applyServerMessage } from "./streamReducer";
import { emptyMessage } from "./feedStatus";
import type { Hole, SeriesStatus, ServerMessage } from "./types";

/**
 * The data side of one open series: the first page over HTTP, the stream after it, gap
 * refetches, and older pages on scroll-back. It knows nothing of the DOM; it hands every
 * book change to a `Surface`.
 */

const FIRST_PAGE = 2000;
const OLDER_PAGE = MAX_LIMIT;

export interface Problem {
  readonly code: string;
  readonly message: string;
  /** Blocking: nothing can be shown for the series. Otherwise a notice over the chart. */
  readonly blocking: boolean;
}

export interface Surface {
  render(change: BookChange, book: CandleBook): void;
  problem(problem: Problem | null): void;
  loading(what: "first" | "older" | null): void;
  touched(): void;
  status(status: SeriesStatus | null): void;
  /** No candle older than `firstTime` is stored. */
  reachedStart(firstTime: number): void;
}

export class MarketController {
  book = new CandleBook();
  seriesId: string | null = null;
  /** No older candle is stored (the last `before=` page came back empty). */
  reachedStart = false;
  problem: Problem | null = null;
  /** The server's word on the series' feed (`refreshStatus`), null until it answers. */
  status: SeriesStatus | null = null;
  private openFailed = false;
  private generation = 0;
  olderInFlight = false;
  private fillFrom: number | null = null;
  private filling = false;
  private abort = new AbortController();
  private retryTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly api: MarketApi,
    private readonly socket: MarketSocket,
    private readonly surface: Surface,
  ) {}

  /** Show `seriesId`: newest page over HTTP, then the stream from its last candle. */
  async open(seriesId: string): Promise<void> {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.seriesId !== null) this.socket.unsubscribe(this.seriesId);
    this.abort.abort();
    this.abort = new AbortController();
    const generation = ++this.generation;
    this.seriesId = seriesId;
    this.book = new CandleBook();
    this.reachedStart = false;
    this.olderInFlight = false;
    this.fillFrom = null;
    this.openFailed = false;
    this.status = null;
    this.surface.status(null);
    this.showProblem(null);
    this.surface.render({ kind: "reset", prepended: 0 }, this.book);
    this.surface.loading("first");
    let candles;
    try {
      ({ candles } = await this.api.candles(seriesId, { limit: FIRST_PAGE }, this.abort.signal));
    } catch (e) {
      if (generation !== this.generation) return;
      this.surface.loading(null);
      this.openFailed = true;
      this.showProblem(problemFromHttp(e));
      // Not whole yet (its history is still coming): asked again when the server said.
      const retryMs = retryDelayMs(e);
      if (retryMs !== null) {
        this.retryTimer = setTimeout(() => {
          if (generation === this.generation) void this.open(seriesId);
        }, retryMs);
      }
      return;
    }
    if (generation !== this.generation) return;
    // Asked after the first page: a request may have imported the series meanwhile.
    void this.refreshStatus();
    this.surface.loading(null);
    this.surface.render(this.book.mergeClosed(candles), this.book);
    if (!candles.length) this.showEmpty();
    const book = this.book;
    this.socket.subscribe({ seriesId, since: () => book.lastClosedTime });
  }

  handle(message: ServerMessage): void {
    if (this.seriesId === null) return;
    const outcome = applyServerMessage(this.book, this.seriesId, message);
    if (outcome.change.kind !== "none") {
      this.surface.render(outcome.change, this.book);
      if (this.book.size && this.problem?.code === "empty") this.showProblem(null);
    }
    if (outcome.touched) this.surface.touched();
    if (outcome.fetchSince !== undefined) void this.fill(outcome.fetchSince);
    if (outcome.problem) this.showProblem(problemFromStream(outcome.problem, this));
  }

  /** Ask the server where the series' feed stands (on open, then every few seconds). */
  async refreshStatus(): Promise<void> {
    const seriesId = this.seriesId;
    if (seriesId === null) return;
    let status: SeriesStatus;
    try {
      status = await this.api.status(seriesId, this.abort.signal);
    } catch {
      return; // the next refresh asks again; the socket badge says whether we answer
    }
    if (seriesId !== this.seriesId) return;
    const healed = healedHoles(this.status, status);
    this.status = status;
    this.surface.status(status);
    // The server filled a hole the chart holds both sides of: read its candles in.
    const first = this.book.firstTime;
    for (const hole of healed) if (first !== null && first < hole.from) void this.fill(hole.from - 1);
    if (this.problem?.code === "empty") this.showEmpty();
  }

  private showEmpty(): void {
    if (this.seriesId === null) return;
    this.showProblem({ code: "empty", message: emptyMessage(this.seriesId, this.status), blocking: false });
  }

  /** Called near the left edge: one older page at a time, until the store has no more. */
  async loadOlder(): Promise<void> {
    const seriesId = this.seriesId;
    const first = this.book.firstTime;
    if (seriesId === null || first === null || this.reachedStart || this.olderInFlight) return;
    const generation = this.generation;
    this.olderInFlight = true;
    this.surface.loading("older");
    try {
      const page = await this.api.candles(
        seriesId,
        { limit: OLDER_PAGE, before: first },
        this.abort.signal,
      );
      if (generation !== this.generation) return;
      // An empty page is the only proof of the start: a short one may come from an import
      // still running (it fills newest first).
      if (!page.candles.length) {
        this.reachedStart = true;
        this.surface.reachedStart(first);
      } else this.surface.render(this.book.mergeClosed(page.candles), this.book);
    } catch (e) {
      if (generation === this.generation && !isAbort(e)) this.showProblem(problemFromHttp(e));
    } finally {
      if (generation === this.generation) {
        this.olderInFlight = false;
        this.surface.loading(null);
      }
    }
  }

  /** Re-read everything stored after `since`; overlapping asks fold into one loop. */
  private async fill(since: number): Promise<void> {
    this.fillFrom = this.fillFrom === null ? since : Math.min(this.fillFrom, since);
    if (this.filling || this.seriesId === null) return;
    this.filling = true;
    const generation = this.generation;
    const seriesId = this.seriesId;
    try {
      while (this.fillFrom !== null && generation === this.generation) {
        const from = this.fillFrom;
        this.fillFrom = null;
        for await (const page of this.api.candlesSince(seriesId, from, this.abort.signal)) {
          if (generation !== this.generation) return;
          this.surface.render(this.book.mergeClosed(page), this.book);
        }
      }
    } catch (e) {
      // The socket's next resync (or the next gap) asks again; say why it is stale now.
      if (generation === this.generation && !isAbort(e)) this.showProblem(problemFromHttp(e));
    } finally {
      if (generation === this.generation) this.filling = false;
    }
  }

  /** The connection is back: a first load that failed for want of a server is retried. */
  retryIfFailed(): void {
    if (this.openFailed && this.seriesId !== null && this.problem?.code === "network") {
      void this.open(this.seriesId);
    }
  }

  private showProblem(problem: Problem | null): void {
    this.problem = problem;
    this.surface.problem(problem);
  }
}

function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === "AbortError";
}

function problemFromHttp(e: unknown): Problem {
  if (e instanceof ApiError) {
    if (e.code === "invalid_series_id") {
      return { code: e.code, message: `Unknown series: ${e.message}`, blocking: true };
    }
    if (e.code === "unknown_symbol") {
      // Nothing stored or in the datadir, and not listed: neither history nor live data.
      return { code: e.code, message: `The exchange does not list it: ${e.message}`, blocking: true };
    }
    if (e.code === "network") {
      return { code: e.code, message: "The server is not answering; retrying.", blocking: false };
    }
    if (e.code === "history_pending") {
      const wait = e.retryAfterS === null ? "" : ` in ${e.retryAfterS} s`;
      return { code: e.code, message: `${e.message}; asking again${wait}.`, blocking: false };
    }
    return { code: e.code, message: e.message, blocking: e.status !== null && e.status < 500 };
  }
  return { code: "client", message: String(e), blocking: true };
}

function problemFromStream(
  problem: { code: string; message: string },
  controller: MarketController,
): Problem {
  const held = controller.book.size > 0;
  switch (problem.code) {
    case "capacity":
      return {
        code: problem.code,
        message:
          "Live updates are unavailable: the server is at its limit of live series. " +
          (held ? "Stored history is shown." : "Try again later."),
        blocking: !held,
      };
    case "unknown_symbol":
      return {
        code: problem.code,
        message:
          `The exchange does not list ${controller.seriesId ?? "this symbol"}: no live data.` +
          (held ? " Stored history is shown." : ""),
        blocking: !held,
      };
    case "invalid_series_id":
      return { code: problem.code, message: `Unknown series: ${problem.message}`, blocking: true };
    default:
      return { code: problem.code, message: problem.message, blocking: false };
  }
}

/** The holes `before` listed that `now` no longer lists as they were (filled, or smaller). */
export function healedHoles(before: SeriesStatus | null, now: SeriesStatus): Hole[] {
  const listed = new Set((now.holes ?? []).map((h) => `${h.from}-${h.to}`));
  return (before?.holes ?? []).filter((h) => !listed.has(`${h.from}-${h.to}`));
}
