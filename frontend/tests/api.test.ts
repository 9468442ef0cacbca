import { describe, expect, it } from "vitest";
import { ApiError, retryDelayMs } from "../src/api";

describe("retryDelayMs", () => {
  it("asks again when the server said it cannot answer whole yet", () => {
    const pending = new ApiError("history_pending", "still importing", 503, 5);
    expect(retryDelayMs(pending)).toBe(5_000);
    expect(retryDelayMs(new ApiError("history_pending", "now", 503, 0))).toBe(1_000);
  });

  it("does not repeat a refusal, nor a 503 that names no time", () => {
    expect(retryDelayMs(new ApiError("invalid_series_id", "bad", 400, null))).toBeNull();
    expect(retryDelayMs(new ApiError("rate_limited", "slow down", 429, 30))).toBeNull();
    expect(retryDelayMs(new ApiError("store_unavailable", "down", 503, null))).toBeNull();
    expect(retryDelayMs(new Error("not from the server"))).toBeNull();
  });
});
