import { existsSync } from "node:fs";
import type { Browser } from "playwright-core";

/** Debian's Chromium, which `.ci/run` installs: the browser tests run it headless. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * Browser tests are skipped locally without Chromium, never in CI (where a missing browser is a failure). Their
 * describe blocks carry the tag "browser": test/e2e/browser-reporter.ts reports how many were skipped.
 */
export const noBrowser = !existsSync(CHROMIUM) && !process.env.CI;

/** Headless Chromium with nothing in the background that could reach the network. */
export async function launchChromium(): Promise<Browser> {
  // Imported here, not at the top: the vitest config and the reporter read this module's constants only.
  const { chromium } = await import("playwright-core");
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
