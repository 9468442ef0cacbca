/**
 * Reconnect delay: exponential from `baseMs`, capped at `maxMs`, with "equal jitter" (half
 * fixed, half random) so that many pages dropped by one server restart do not all come
 * back in the same instant.
 */
export function reconnectDelayMs(
  attempt: number,
  random: () => number = Math.random,
  baseMs = 500,
  maxMs = 15_000,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return ceiling / 2 + (ceiling / 2) * random();
}
