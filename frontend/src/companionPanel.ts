import { MAX_LIMIT, type MarketApi } from "./api";
import {
  COMPANIONS,
  companionId,
  companionPoints,
  companionText,
  valueAt,
  type Companion,
} from "./companions";
import { hiddenCompanions, rememberHiddenCompanions } from "./preferences";

/** A futures chart's toggles for its mark price, funding rate and open interest (each
 * remembered), and the polling that keeps the shown ones current: the server keeps these
 * series beside every stored contract, a few minutes apart at most. Its requests are its
 * own: a slow one delays nothing else on the page. */

const REFRESH_EVERY_MS = 30_000;

/** What the chart draws of one companion. */
export interface CompanionLine {
  readonly companion: Companion;
  readonly points: [number, number][];
}

export interface CompanionPanelParts {
  readonly api: MarketApi;
  readonly box: HTMLDivElement;
  readonly seriesId: () => string | null;
  readonly show: (lines: readonly CompanionLine[]) => void;
}

export class CompanionPanel {
  private readonly hidden = hiddenCompanions();
  private lines: CompanionLine[] = [];
  private generation = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly buttons = new Map<string, HTMLButtonElement>();

  constructor(private readonly parts: CompanionPanelParts) {
    for (const companion of COMPANIONS) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "companion";
      button.textContent = companion.label;
      button.style.setProperty("--swatch", companion.color);
      button.addEventListener("click", () => this.toggle(companion));
      this.buttons.set(companion.kind, button);
      parts.box.append(button);
    }
    this.showButtons();
  }

  /** The series on screen changed: its companions (a futures series has them) are loaded. */
  seriesChanged(): void {
    this.lines = [];
    this.parts.show([]);
    const futures = this.isFutures();
    this.parts.box.hidden = !futures;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = futures ? setInterval(() => void this.load(), REFRESH_EVERY_MS) : null;
    if (futures) void this.load();
  }

  /** The legend's entries at `time`: each shown companion's name and value then. */
  legendAt(time: number | null, decimals: number): { color: string; text: string }[] {
    const out = [];
    for (const { companion, points } of this.lines) {
      const value = time === null ? (points.at(-1)?.[1] ?? null) : valueAt(points, time);
      if (value === null) continue;
      const text = `${companion.label} ${companionText(companion, value, decimals)}`;
      out.push({ color: companion.color, text });
    }
    return out;
  }

  /** What is loaded now, for the test hook. */
  shown(): readonly CompanionLine[] {
    return this.lines;
  }

  private isFutures(): boolean {
    const id = this.parts.seriesId();
    return id !== null && companionId(id, COMPANIONS[0]) !== null;
  }

  private wanted(): { companion: Companion; id: string }[] {
    const id = this.parts.seriesId();
    if (id === null) return [];
    const out = [];
    for (const companion of COMPANIONS) {
      const companionSeries = companionId(id, companion);
      if (companionSeries !== null && !this.hidden.has(companion.kind)) {
        out.push({ companion, id: companionSeries });
      }
    }
    return out;
  }

  private toggle(companion: Companion): void {
    if (this.hidden.has(companion.kind)) this.hidden.delete(companion.kind);
    else this.hidden.add(companion.kind);
    rememberHiddenCompanions(this.hidden);
    this.showButtons();
    this.lines = this.lines.filter((line) => !this.hidden.has(line.companion.kind));
    this.parts.show(this.lines);
    void this.load();
  }

  private showButtons(): void {
    for (const [kind, button] of this.buttons) {
      const shown = !this.hidden.has(kind);
      button.setAttribute("aria-pressed", String(shown));
      button.title = shown ? "Shown; click to hide" : "Hidden; click to show";
    }
  }

  private async load(): Promise<void> {
    const generation = ++this.generation;
    const wanted = this.wanted();
    const loaded = await Promise.all(
      wanted.map(async ({ companion, id }) => {
        try {
          const page = await this.parts.api.candles(id, { limit: MAX_LIMIT });
          return { companion, points: companionPoints(companion, page.candles) };
        } catch {
          return { companion, points: [] }; // not kept (yet) for this contract: nothing drawn
        }
      }),
    );
    if (generation !== this.generation) return; // a newer series or toggle took over
    this.lines = loaded.filter((line) => line.points.length > 0);
    this.parts.show(this.lines);
  }
}
