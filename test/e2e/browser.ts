import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

/** Debian's Chromium, which `.ci/run` installs: the browser tests run it headless. */
export const CHROMIUM = "/usr/bin/chromium";

/** Browser tests are skipped locally without Chromium, never in CI (where a missing browser is a failure). */
export const noBrowser = !existsSync(CHROMIUM) && !process.env.CI;

/** Headless Chromium with nothing in the background that could reach the network. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}
