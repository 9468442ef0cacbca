import { describe, expect, it } from "vitest";
import { emptyMessage, feedLabel } from "../src/feedStatus";
import type { SeriesStatus } from "../src/types";

const ID = "binance:spot:BTC/USDT:1m";
const status = (state: SeriesStatus["state"], reason: string | null, head: number | null = null): SeriesStatus => ({
  series_id: ID,
  state,
  reason,
  head_time: head,
  hole_count: 0,
  missing_candles: 0,
});

describe("feedLabel", () => {
  it("says how old the newest close is while streaming", () => {
    expect(feedLabel(status("streaming", null), 1_700_000_000, 1_700_000_012_000).text).toBe(
      "streaming from the exchange · last close 12 s ago",
    );
  });

  it("names the newest stored candle when nothing is live", () => {
    const label = feedLabel(status("live_off", "live ingest is off", 1_514_764_800), null, 0);
    expect(label.text).toBe("live ingest off · newest candle 2018-01-01 00:00 UTC");
    expect(label.detail).toBe("live ingest is off");
  });

  it("keeps the reason of a retry for the tooltip", () => {
    const label = feedLabel(status("retrying", "exchange unreachable: refused"), null, 0);
    expect(label).toEqual({ text: "exchange unreachable, retrying", detail: "exchange unreachable: refused" });
  });
});

describe("emptyMessage", () => {
  it("waits for live data only while the feed is live", () => {
    expect(emptyMessage(ID, status("streaming", null))).toContain("waiting for live data");
    expect(emptyMessage(ID, status("download_failed", "freqtrade download-data failed: exit 2"))).toBe(
      `No candles are stored for ${ID}: freqtrade download-data failed: exit 2.`,
    );
  });
});
