import type { MarketController, Problem } from "./controller";
import { feedLabel } from "./feedStatus";
import type { ConnectionState } from "./marketSocket";
import { parseSeriesId, timeframeSeconds } from "./series";

interface StatusParts {
  readonly connection: HTMLSpanElement;
  readonly feed: HTMLSpanElement;
  readonly problem: HTMLDivElement;
  readonly problemText: HTMLSpanElement;
  readonly problemClose: HTMLButtonElement;
  readonly loading: HTMLDivElement;
}

/** What the page says of where things stand: the browser's socket to this server, the
 * series' feed as the server tells it, a problem, and what is loading. */
export class StatusBar {
  constructor(private readonly parts: StatusParts) {
    parts.problemClose.addEventListener("click", () => {
      parts.problem.hidden = true;
    });
  }

  /** The browser's own socket to this server: "connected" says nothing of the exchange. */
  connection(state: ConnectionState): void {
    this.parts.connection.dataset.state = state;
    this.parts.connection.textContent = state === "live" ? "connected" : state;
  }

  /** The series' feed as the server tells it, with the age of the newest close. */
  feed(controller: MarketController): void {
    const { feed } = this.parts;
    const status = controller.status;
    if (status === null) {
      feed.textContent = "";
      feed.dataset.state = "";
      feed.title = "";
      return;
    }
    const tf = controller.seriesId ? parseSeriesId(controller.seriesId)?.timeframe : undefined;
    const last = controller.book.lastClosedTime;
    const newestClose = last === null || !tf ? null : last + timeframeSeconds(tf);
    const label = feedLabel(status, newestClose, Date.now());
    feed.textContent = label.text;
    feed.dataset.state = status.state;
    feed.title = label.detail;
  }

  problem(problem: Problem | null): void {
    const { problem: box, problemText, problemClose } = this.parts;
    box.hidden = problem === null;
    problemText.textContent = problem?.message ?? "";
    // A notice over a chart that still works can be put away; a blocking one cannot.
    problemClose.hidden = problem === null || problem.blocking;
    box.dataset.code = problem?.code ?? "";
    box.dataset.blocking = String(problem?.blocking ?? false);
  }

  loading(what: "first" | "older" | null): void {
    this.parts.loading.hidden = what === null;
    this.parts.loading.textContent = what === "older" ? "loading older candles…" : "loading…";
  }
}
