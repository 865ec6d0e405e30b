import { defineConfig } from "@playwright/test";

// The browser suite: Chromium from the operating system's packages (there is no browser
// download here), headless, against local runners that tests/browser/global-setup.ts starts on
// free ports and that serve the exported app (web/out) on their own origin.
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export default defineConfig({
  testDir: "tests/browser",
  outputDir: "artifacts/test-results",
  globalSetup: "./tests/browser/global-setup.ts",
  fullyParallel: true,
  workers: 2,
  timeout: 120_000,
  expect: { timeout: 20_000 },
  reporter: [["list"]],
  use: {
    browserName: "chromium",
    headless: true,
    // Playwright gives every launch a fresh, empty --user-data-dir of its own.
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: CHROMIUM_FLAGS,
    },
    screenshot: "only-on-failure",
    trace: "off",
  },
});
