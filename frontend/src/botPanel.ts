import type { MarketApi } from "./api";
import { botSummary, type BotInfo, type BotOverlay } from "./bots";
import { hiddenBots, rememberHiddenBots } from "./preferences";

/** The bot picker (a toggle per bot, with what each runs or why it cannot be read) and
 * the polling that keeps the shown bots' overlays current for the series on screen. Its
 * requests are its own: a slow bot delays nothing else on the page. */

const OVERLAY_EVERY_MS = 5000;
const BOTS_EVERY_MS = 15000;

export interface BotPanelParts {
  readonly api: MarketApi;
  readonly button: HTMLButtonElement;
  readonly panel: HTMLElement;
  readonly seriesId: () => string | null;
  readonly show: (overlays: readonly BotOverlay[]) => void;
}

export class BotPanel {
  private bots: BotInfo[] = [];
  private overlays = new Map<string, BotOverlay>();
  private readonly hidden = hiddenBots();
  private cycle: AbortController | null = null;
  private cycleSeries: string | null = null;
  private readonly inFlight = new Set<string>();

  constructor(private readonly parts: BotPanelParts) {
    parts.button.addEventListener("click", () => this.open(parts.panel.hidden));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !parts.panel.hidden) this.open(false);
    });
  }

  start(): void {
    void this.loadBots();
    setInterval(() => void this.loadBots(), BOTS_EVERY_MS);
    setInterval(() => void this.refresh(), OVERLAY_EVERY_MS);
  }

  private open(open: boolean): void {
    this.parts.panel.hidden = !open;
    this.parts.button.setAttribute("aria-expanded", String(open));
  }

  /** A new series on screen: its overlays now, not at the next tick. */
  seriesChanged(): void {
    this.overlays.clear();
    this.parts.show([]);
    this.renderList();
    void this.refresh();
  }

  /** The last overlays fetched (for the test hook). */
  current(): BotOverlay[] {
    return [...this.overlays.values()];
  }

  private async loadBots(): Promise<void> {
    try {
      this.bots = await this.parts.api.bots();
    } catch {
      return; // the last list stays
    }
    this.parts.button.hidden = this.bots.length === 0;
    this.renderList();
    if (this.overlays.size === 0) void this.refresh();
  }

  /** Ask each shown bot for its overlay, one request per bot at a time: a slow bot's
   * answer arrives when it does and holds up none of the others. */
  private async refresh(): Promise<void> {
    const seriesId = this.parts.seriesId();
    if (seriesId === null) return;
    if (this.cycleSeries !== seriesId) {
      this.cycle?.abort(); // the last series' answers are not wanted
      this.cycle = new AbortController();
      this.cycleSeries = seriesId;
      this.inFlight.clear();
    }
    const signal = this.cycle?.signal;
    const asked = this.bots.filter((b) => !this.hidden.has(b.name) && !this.inFlight.has(b.name));
    await Promise.all(
      asked.map(async (bot) => {
        this.inFlight.add(bot.name);
        try {
          const overlay = await this.parts.api.botOverlay(bot.name, seriesId, signal);
          if (this.parts.seriesId() !== seriesId || signal?.aborted) return;
          this.overlays.set(bot.name, overlay);
          this.draw();
          this.renderList();
        } catch {
          // unanswered: the bot keeps what it showed; the next tick asks again
        } finally {
          if (this.cycleSeries === seriesId) this.inFlight.delete(bot.name);
        }
      }),
    );
  }

  private draw(): void {
    this.parts.show([...this.overlays.values()].filter((o) => !this.hidden.has(o.name)));
  }

  private toggle(name: string, on: boolean): void {
    if (on) this.hidden.delete(name);
    else this.hidden.add(name);
    rememberHiddenBots(this.hidden);
    this.draw();
    if (on) void this.refresh();
  }

  private renderList(): void {
    const rows = this.bots.map((bot) => {
      const row = document.createElement("label");
      row.className = "bot-row";
      row.dataset.bot = bot.name;
      row.dataset.state = bot.state;
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = !this.hidden.has(bot.name);
      box.addEventListener("change", () => this.toggle(bot.name, box.checked));
      const name = document.createElement("span");
      name.className = "bot-name";
      name.textContent = bot.name;
      const summary = document.createElement("span");
      summary.className = "bot-summary";
      summary.textContent = botSummary(this.overlays.get(bot.name) ?? bot);
      const note = document.createElement("span");
      note.className = "bot-note";
      const overlay = this.overlays.get(bot.name);
      note.textContent = overlay ? overlayNote(overlay) : "";
      row.append(box, name, summary, note);
      return row;
    });
    this.parts.panel.replaceChildren(...rows);
    const failing = this.bots.some((b) => b.state !== "ok");
    this.parts.button.dataset.state = failing ? "problem" : "ok";
  }
}

function overlayNote(overlay: BotOverlay): string {
  if (overlay.note) return overlay.note;
  if (overlay.state !== "ok") return "";
  const open = overlay.trades.filter((t) => t.is_open).length;
  const trades = `${overlay.trades.length} trade${overlay.trades.length === 1 ? "" : "s"} on this pair`;
  return open ? `${trades}, ${open} open` : trades;
}
