import type { TimeZoneChoice } from "./format";

/** What the page remembers between visits, and where the series choice lives in the URL. */

const SERIES_KEY = "trade-canvas.series_id";
const THEME_KEY = "trade-canvas.theme";
const ZONE_KEY = "trade-canvas.time-zone";
const HIDDEN_BOTS_KEY = "trade-canvas.bots-hidden";
const HIDDEN_COMPANIONS_KEY = "trade-canvas.futures-hidden";

export type ThemeChoice = "system" | "light" | "dark";

function storage(): Storage | null {
  try {
    return window.localStorage;
  } catch {
    return null; // private modes may refuse storage; the page works without memory
  }
}

export function seriesFromUrl(): string | null {
  const id = new URLSearchParams(window.location.search).get("series_id");
  return id && id.trim() ? id.trim() : null;
}

/** Put the series in the URL (a link reopens it) and remember it for the next visit. */
export function rememberSeries(seriesId: string, push: boolean): void {
  const url = new URL(window.location.href);
  url.searchParams.set("series_id", seriesId);
  if (url.href !== window.location.href) {
    if (push) window.history.pushState(null, "", url);
    else window.history.replaceState(null, "", url);
  }
  storage()?.setItem(SERIES_KEY, seriesId);
}

export function rememberedSeries(): string | null {
  return storage()?.getItem(SERIES_KEY) ?? null;
}

export function themeChoice(): ThemeChoice {
  const value = storage()?.getItem(THEME_KEY);
  return value === "light" || value === "dark" ? value : "system";
}

export function rememberTheme(choice: ThemeChoice): void {
  storage()?.setItem(THEME_KEY, choice);
}

/** UTC unless the user chose their local time. */
export function timeZoneChoice(): TimeZoneChoice {
  return storage()?.getItem(ZONE_KEY) === "local" ? "local" : "utc";
}

export function rememberTimeZone(choice: TimeZoneChoice): void {
  storage()?.setItem(ZONE_KEY, choice);
}

/** The bots the user switched off (bots are shown unless). */
export function hiddenBots(): Set<string> {
  return storedNames(HIDDEN_BOTS_KEY);
}

export function rememberHiddenBots(hidden: ReadonlySet<string>): void {
  rememberNames(HIDDEN_BOTS_KEY, hidden);
}

/** The futures companions (mark, funding, open interest) the user switched off. */
export function hiddenCompanions(): Set<string> {
  return storedNames(HIDDEN_COMPANIONS_KEY);
}

export function rememberHiddenCompanions(hidden: ReadonlySet<string>): void {
  rememberNames(HIDDEN_COMPANIONS_KEY, hidden);
}

function storedNames(key: string): Set<string> {
  try {
    const raw = JSON.parse(storage()?.getItem(key) ?? "[]") as unknown;
    return new Set(Array.isArray(raw) ? raw.filter((n): n is string => typeof n === "string") : []);
  } catch {
    return new Set(); // not ours, or torn: every one is shown
  }
}

function rememberNames(key: string, names: ReadonlySet<string>): void {
  storage()?.setItem(key, JSON.stringify([...names].sort()));
}
