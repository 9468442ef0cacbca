import { defineConfig } from "@playwright/test";

// Debian's Chromium (`apt-get install chromium`); Playwright's own browser download cannot
// work offline. The flags keep it from dialling out of a machine with no internet.
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
];

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
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: CHROMIUM_ARGS,
    },
  },
});
