// Types for stack.mjs (shared with scripts/bench_chart.mjs, so it stays JavaScript).
export const CHROMIUM_LAUNCH: { executablePath: string; args: string[] };
export const REPO: string;
export const FIXTURES: string;
export class Fatal extends Error {}
export function freePort(): Promise<number>;
export function poll<T>(
  check: () => T | Promise<T>,
  options?: { timeoutMs?: number; everyMs?: number; what?: string },
): Promise<NonNullable<T>>;
export function startFakeBinance(options?: {
  speed?: number;
  name?: string;
  venue?: "binance" | "bybit" | "okx";
}): Promise<{ env: Record<string, string>; stop(): Promise<void> }>;
export function makeDatadir(prefixes?: string[]): string;
export function writeFreqtradeFile(datadir: string, pair: string, rows: number): void;
export interface ServerProcess {
  url: string;
  port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
  restart(): Promise<void>;
}
export function startServer(options: {
  exchangeEnv: Record<string, string>;
  datadir: string;
  extraEnv?: Record<string, string>;
  name?: string;
}): Promise<ServerProcess>;
export interface StoredCandle {
  candle_time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
}
export function storedCandles(url: string, seriesId: string): Promise<StoredCandle[]>;
export interface FreqtradeBot {
  url: string;
  exited(): boolean;
  stop(): Promise<void>;
}
export function startFreqtradeBot(options: {
  serverUrl: string;
  apiPort: number;
  password: string;
  overrides?: Record<string, unknown>;
  name?: string;
}): Promise<FreqtradeBot>;
