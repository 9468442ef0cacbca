import type { Candle, ServerMessage } from "./types";

/** What the page tells whoever measures it (the end-to-end tests' build, the chart
 * benchmark): a series opened, a message arrived, a page of bars or one bar was drawn.
 * The production build measures nothing. */
export interface RenderProbe {
  opened(): void;
  messageArrived(message: ServerMessage): void;
  drawn(bars: number): void;
  barUpdated(candle: Candle): void;
}

export const NO_PROBE: RenderProbe = {
  opened: () => {},
  messageArrived: () => {},
  drawn: () => {},
  barUpdated: () => {},
};
