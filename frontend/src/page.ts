/** The page's elements, found once by id (index.html is their contract). */

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`page is missing #${id}`);
  return found as T;
}

export function pageElements() {
  return {
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
    companions: element<HTMLDivElement>("companions"),
    botsPanel: element<HTMLDivElement>("bots-panel"),
    tradeTip: element<HTMLDivElement>("trade-tip"),
  };
}

export type PageElements = ReturnType<typeof pageElements>;
