#!/usr/bin/env node
// Chart benchmark: a real server, the local Binance and Debian's Chromium, measured from
// inside the page. Prints a table and writes output/bench/chart.json.
//
//   node scripts/bench_chart.mjs [--rows 100000] [--forming-seconds 20] [--warm-loads 5]
//
// - navigation to the first 2,000 bars drawn (cold: the server imports the file first;
//   warm: the store has it), target < 1 s;
// - a `candle_forming` frame's arrival in the page to the frame that draws it, < 50 ms;
// - scrolling back through every candle of a 100,000-row 1m file: long tasks, < 100 ms.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "@playwright/test";
import {
  CHROMIUM_LAUNCH,
  makeDatadir,
  poll,
  REPO,
  startFakeBinance,
  startServer,
  writeFreqtradeFile,
} from "../frontend/e2e/stack.mjs";

const LIVE = "binance:spot:BTC/USDT:1m";
const BIG = "binance:spot:BENCH/USDT:1m";

const { values: args } = parseArgs({
  options: {
    rows: { type: "string", default: "100000" },
    "forming-seconds": { type: "string", default: "20" },
    "warm-loads": { type: "string", default: "5" },
  },
});
const rows = Number(args.rows);

function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const round = (x, digits = 1) => (x === null ? null : Number(x.toFixed(digits)));
const hook = (page, body) => page.evaluate(`(() => { const h = window.__tradeCanvas; ${body} })()`);

async function firstDraw(page, url) {
  await page.goto(url);
  return poll(
    () => hook(page, "return h.metrics.firstDrawMs === null ? null : [h.metrics.firstDrawMs, h.metrics.firstDrawBars];"),
    { what: "the first bars drawn", timeoutMs: 60_000, everyMs: 50 },
  );
}

async function main() {
  const datadir = makeDatadir([]);
  // A 1m file written by freqtrade's own feather handler.
  writeFreqtradeFile(datadir, "BENCH/USDT", rows);
  const fake = await startFakeBinance({ speed: 60, name: "bench-fake-binance" });
  const server = await startServer({ exchangeEnv: fake.env, datadir, name: "bench-server" });
  const browser = await chromium.launch(CHROMIUM_LAUNCH);
  const report = { rows, machine: "2 cores; server, exchange and browser on the same machine" };
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const bigUrl = `${server.url}/?series_id=${encodeURIComponent(BIG)}`;

    // 1. Navigation to the first 2,000 bars drawn.
    const [coldMs, coldBars] = await firstDraw(page, bigUrl);
    const warm = [];
    for (let i = 0; i < Number(args["warm-loads"]); i++) {
      const [ms, bars] = await firstDraw(page, bigUrl);
      if (bars !== 2000) throw new Error(`warm load drew ${bars} bars, not 2000`);
      warm.push(ms);
    }
    report.first_draw = {
      bars: coldBars,
      cold_ms: round(coldMs),
      warm_ms: warm.map((x) => round(x)),
      warm_median_ms: round(percentile(warm, 50)),
      warm_max_ms: round(Math.max(...warm)),
      target_ms: 1000,
    };

    // 2. Scrolling back through every stored candle, a step per animation frame.
    await page.goto(bigUrl);
    await poll(() => hook(page, "return h.barCount() >= 2000;"), { what: "the first page" });
    report.scroll_back = await page.evaluate(async (total) => {
      const h = window.__tradeCanvas;
      const longTasks = [];
      const observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) longTasks.push(entry.duration);
      });
      observer.observe({ type: "longtask" });
      const started = performance.now();
      let last = started;
      let worstFrame = 0;
      let frames = 0;
      await new Promise((resolve, reject) => {
        const deadline = started + 300_000;
        function step(now) {
          worstFrame = Math.max(worstFrame, now - last);
          last = now;
          frames++;
          const view = h.visibleTimes();
          if (h.reachedStart() && h.barCount() >= total && view && view.from <= h.firstTime()) {
            resolve();
            return;
          }
          if (now > deadline) {
            reject(new Error(`scroll-back stuck at ${h.barCount()} bars`));
            return;
          }
          h.scrollBy(-60); // an hour of 1m bars per frame: a brisk drag
          requestAnimationFrame(step);
        }
        requestAnimationFrame(step);
      });
      await new Promise((r) => setTimeout(r, 200)); // let the observer flush
      observer.disconnect();
      return {
        bars: h.barCount(),
        seconds: (performance.now() - started) / 1000,
        frames,
        worst_frame_ms: worstFrame,
        long_tasks: longTasks.length,
        long_task_max_ms: longTasks.length ? Math.max(...longTasks) : 0,
        long_tasks_over_100ms: longTasks.filter((d) => d > 100).length,
      };
    }, rows);
    report.scroll_back.target_long_task_ms = 100;
    for (const key of ["seconds", "worst_frame_ms", "long_task_max_ms"]) {
      report.scroll_back[key] = round(report.scroll_back[key]);
    }

    // 3. Forming frame to bar drawn, on a live series.
    await page.goto(`${server.url}/?series_id=${encodeURIComponent(LIVE)}`);
    await poll(() => hook(page, "return h.state() === 'live' && h.barCount() > 0;"), {
      what: "the live series",
      timeoutMs: 60_000,
    });
    await hook(page, "h.metrics.formingLatenciesMs.length = 0; return true;");
    await new Promise((r) => setTimeout(r, Number(args["forming-seconds"]) * 1000));
    const latencies = await hook(page, "return [...h.metrics.formingLatenciesMs];");
    report.forming_to_drawn = {
      samples: latencies.length,
      p50_ms: round(percentile(latencies, 50)),
      p95_ms: round(percentile(latencies, 95)),
      p99_ms: round(percentile(latencies, 99)),
      max_ms: round(latencies.length ? Math.max(...latencies) : null),
      target_ms: 50,
    };
    await page.screenshot({ path: join(REPO, "output", "bench", "chart-live.png") });
  } finally {
    await browser.close();
    await server.stop();
    await fake.stop();
  }

  mkdirSync(join(REPO, "output", "bench"), { recursive: true });
  const path = join(REPO, "output", "bench", "chart.json");
  writeFileSync(path, JSON.stringify(report, null, 2) + "\n");
  const f = report.first_draw;
  const s = report.scroll_back;
  const l = report.forming_to_drawn;
  console.table({
    "first 2,000 bars drawn, cold (ms)": { result: f.cold_ms, target: "< 1000" },
    "first 2,000 bars drawn, warm median (ms)": { result: f.warm_median_ms, target: "< 1000" },
    "first 2,000 bars drawn, warm max (ms)": { result: f.warm_max_ms, target: "< 1000" },
    [`scroll back through ${s.bars} bars (s)`]: { result: s.seconds, target: "" },
    "  longest task (ms)": { result: s.long_task_max_ms, target: "< 100" },
    "  long tasks over 100 ms": { result: s.long_tasks_over_100ms, target: "0" },
    "  worst frame interval (ms)": { result: s.worst_frame_ms, target: "" },
    [`forming frame to drawn, p50 (ms, n=${l.samples})`]: { result: l.p50_ms, target: "" },
    "forming frame to drawn, p99 (ms)": { result: l.p99_ms, target: "< 50" },
    "forming frame to drawn, max (ms)": { result: l.max_ms, target: "" },
  });
  console.log(`wrote ${path}`);
}

await main();
