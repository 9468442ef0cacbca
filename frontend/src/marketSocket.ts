import { reconnectDelayMs } from "./backoff";
import type { ServerMessage } from "./types";

/**
 * One WebSocket to `/ws/market` for the page. It reconnects by itself (backoff with jitter)
 * and, after every connect, subscribes again with `since` = the caller's newest closed
 * candle, so the server's `catchup` fills exactly what was missed: no hole, no duplicate.
 */

export type ConnectionState = "connecting" | "live" | "reconnecting" | "offline";

export interface Subscription {
  readonly seriesId: string;
  /** The newest closed candle held, read at every (re)subscribe. */
  since(): number | null;
}

export interface MarketSocketOptions {
  readonly url: string;
  readonly onMessage: (message: ServerMessage) => void;
  readonly onState: (state: ConnectionState) => void;
  /** Failed attempts in a row after which the state reads "offline" (it keeps trying). */
  readonly offlineAfter?: number;
  readonly pingEveryMs?: number;
  /** No frame at all for this long: the connection is dead even if the browser says not. */
  readonly silenceLimitMs?: number;
}

export class MarketSocket {
  private socket: WebSocket | null = null;
  private readonly subscriptions = new Map<string, Subscription>();
  private failures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastFrameAt = 0;
  private stopped = false;
  private currentState: ConnectionState = "connecting";

  constructor(private readonly options: MarketSocketOptions) {}

  get state(): ConnectionState {
    return this.currentState;
  }

  start(): void {
    this.stopped = false;
    window.addEventListener("online", this.reconnectNow);
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.removeEventListener("online", this.reconnectNow);
    this.clearTimers();
    this.socket?.close(1000, "page closed");
    this.socket = null;
  }

  subscribe(subscription: Subscription): void {
    this.subscriptions.set(subscription.seriesId, subscription);
    this.sendSubscribe(subscription);
  }

  unsubscribe(seriesId: string): void {
    if (this.subscriptions.delete(seriesId)) this.send({ type: "unsubscribe", series_id: seriesId });
  }

  /** Give up on the current connection now and reconnect (also the page's test hook). */
  drop(): void {
    const socket = this.socket;
    if (!socket) return;
    socket.onopen = socket.onmessage = socket.onclose = null;
    socket.close(4000, "abandoned");
    this.socket = null;
    this.clearTimers();
    if (!this.stopped) this.scheduleReconnect();
  }

  private connect(): void {
    this.setState(this.failures === 0 && !this.socket ? "connecting" : this.retryState());
    const socket = new WebSocket(this.options.url);
    this.socket = socket;
    socket.onopen = () => {
      if (socket !== this.socket) return;
      this.failures = 0;
      this.lastFrameAt = performance.now();
      this.startPings();
      this.setState("live");
      for (const subscription of this.subscriptions.values()) this.sendSubscribe(subscription);
    };
    socket.onmessage = (event: MessageEvent<string>) => {
      if (socket !== this.socket) return;
      this.lastFrameAt = performance.now();
      let message: ServerMessage;
      try {
        message = JSON.parse(event.data) as ServerMessage;
      } catch {
        return; // the server only sends JSON; anything else is not ours to act on
      }
      this.options.onMessage(message);
    };
    socket.onclose = () => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.clearTimers();
      if (!this.stopped) this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    this.failures += 1;
    this.setState(this.retryState());
    const delay = reconnectDelayMs(this.failures - 1);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private readonly reconnectNow = (): void => {
    if (this.stopped || this.socket) return;
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  };

  private retryState(): ConnectionState {
    const offline = !navigator.onLine || this.failures >= (this.options.offlineAfter ?? 4);
    return offline ? "offline" : "reconnecting";
  }

  private startPings(): void {
    const every = this.options.pingEveryMs ?? 15_000;
    const silence = this.options.silenceLimitMs ?? 2.5 * every;
    this.pingTimer = setInterval(() => {
      if (performance.now() - this.lastFrameAt > silence) {
        this.drop(); // a dead peer may never finish a closing handshake
        return;
      }
      this.send({ type: "ping" });
    }, every);
  }

  private clearTimers(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.pingTimer = null;
    this.retryTimer = null;
  }

  private sendSubscribe(subscription: Subscription): void {
    const since = subscription.since();
    this.send(
      since === null
        ? { type: "subscribe", series_id: subscription.seriesId }
        : { type: "subscribe", series_id: subscription.seriesId, since },
    );
  }

  private send(message: object): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private setState(state: ConnectionState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.options.onState(state);
  }
}
