import type { Reporter, TestModule } from "vitest/node";
import { CHROMIUM, noBrowser } from "./browser";

/**
 * Says in one loud line, after the summary, that the browser tests (tagged "browser") were skipped for want of
 * Chromium, and how many: locally they are skipped without it, in CI a missing browser fails them instead.
 */
export default class BrowserReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>) {
    if (!noBrowser) return;
    let skipped = 0;
    for (const module of testModules) {
      for (const test of module.children.allTests("skipped")) if (test.tags.includes("browser")) skipped++;
    }
    if (skipped > 0) {
      console.log(
        `\n!!! ${skipped} BROWSER TESTS SKIPPED: no Chromium at ${CHROMIUM} (apt-get install chromium; CI fails without it) !!!\n`,
      );
    }
  }
}
