import { defineConfig } from "@playwright/test";
import { CHROMIUM_LAUNCH } from "./e2e/stack.mjs";

export default defineConfig({
  testDir: "e2e",
  outputDir: "../output/playwright/results",
  timeout: 120_000,
  expect: { timeout: 30_000 },
  workers: 1,
  fullyParallel: false,
  forbidOnly: true,
  reporter: [["list"], ["html", { outputFolder: "../output/playwright/report", open: "never" }]],
  use: {
    browserName: "chromium",
    viewport: { width: 1280, height: 720 },
    screenshot: "on",
    trace: "retain-on-failure",
    launchOptions: CHROMIUM_LAUNCH,
  },
});
