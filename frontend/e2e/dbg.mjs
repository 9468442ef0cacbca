import { chromium } from "@playwright/test";
import { execFileSync } from "node:child_process";
import * as s from "./stack.mjs";
const datadir = s.makeDatadir([]);
execFileSync(".venv/bin/python", ["-c", "import sys; from pathlib import Path; sys.path.insert(0, 'scripts'); from bench_history import write_datadir; write_datadir(Path(sys.argv[1]), 'BENCH/USDT', 100000)", datadir], { cwd: s.REPO });
const fake = await s.startFakeBinance();
const server = await s.startServer({ exchangeEnv: fake.env, datadir });
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox","--disable-gpu","--disable-background-networking","--disable-component-update"] });
const page = await browser.newPage();
page.on("console", (m) => console.log("console:", m.text()));
await page.goto(server.url + "/?series_id=" + encodeURIComponent("binance:spot:BENCH/USDT:1m"));
await new Promise((r) => setTimeout(r, 1500));
for (let i = 0; i < 25; i++) {
  await page.evaluate(() => { const h = window.__tradeCanvas; h.scrollBy(-h.barCount()); });
  await new Promise((r) => setTimeout(r, 600));
}
await browser.close(); await server.stop(); await fake.stop();
