import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { ImagegateProcess } from "../imagegate-process.ts";
import { removeDirectory, temporaryDirectory } from "../processes.ts";
import type { Figure, Scenario, ScenarioOutcome, ScenarioSettings } from "../scenario.ts";
import { distribution } from "../statistics.ts";

const CHROMIUM = "/usr/bin/chromium";

interface Load {
  /** Bytes on the wire: response bodies as sent (compressed) plus response headers. */
  transferredBytes: number;
  /** Response bodies as sent, without headers. */
  bodyBytes: number;
  requests: number;
  /** From the start of navigation to the performance mark the console sets when it takes input. */
  interactiveMs: number;
}

/** Opens `url` in `page` and measures what it downloads until `mark` is set. */
async function measureLoad(page: Page, url: string, mark: string): Promise<Load> {
  const responses: Promise<{ body: number; headers: number }>[] = [];
  page.on("requestfinished", (request) => {
    responses.push(request.sizes().then((sizes) => ({ body: sizes.responseBodySize, headers: sizes.responseHeadersSize })));
  });
  await page.goto(url);
  const interactiveMs = await page.evaluate(async (name) => {
    for (;;) {
      const [entry] = performance.getEntriesByName(name, "mark");
      if (entry !== undefined) return entry.startTime;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }, mark);
  await page.waitForLoadState("networkidle");
  const sizes = await Promise.all(responses);
  return {
    transferredBytes: sizes.reduce((sum, size) => sum + size.body + size.headers, 0),
    bodyBytes: sizes.reduce((sum, size) => sum + size.body, 0),
    requests: sizes.length,
    interactiveMs,
  };
}

/** `rounds` cold loads, each in a fresh browser context (empty cache and session storage). */
async function coldLoads(browser: Browser, url: string, mark: string, rounds: number, key: string | null): Promise<Load[]> {
  const loads: Load[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    if (key !== null) {
      // A tab that signed in before: the session is in its storage when the page starts.
      await context.addInitScript((stored) => sessionStorage.setItem("imagegate.session", stored), JSON.stringify({ kind: "account", key, mode: "live" }));
    }
    const page = await context.newPage();
    loads.push(await measureLoad(page, url, mark));
    await context.close();
  }
  return loads;
}

const KIB = 1024;

export const consoleScenario: Scenario = {
  name: "console",
  title: "console: what the web console's first load downloads, and its time to interactive in headless Chromium",
  async run(settings: ScenarioSettings): Promise<ScenarioOutcome> {
    if (!existsSync(CHROMIUM)) {
      return { figures: [], notes: [`skipped: ${CHROMIUM} is missing (apt-get install chromium)`] };
    }
    const rounds = settings.quick ? 5 : 25;
    const dataDir = await temporaryDirectory("console");
    let server: ImagegateProcess | null = null;
    let browser: Browser | null = null;
    try {
      server = await ImagegateProcess.start({ dataDir, logLevel: "warn", workerConcurrency: 4, sandboxLatencyMs: 20 });
      if (server.demoKey === null) throw new Error("imagegate printed no demo key on its first start");
      browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
      settings.progress(`${rounds} cold loads of the sign-in page, then of the playground signed in`);
      const signIn = await coldLoads(browser, `${server.url}/`, "console-interactive", rounds, null);
      const playground = await coldLoads(browser, `${server.url}/#/playground`, "playground-ready", rounds, server.demoKey);
      const first = signIn[0] as Load;
      const signInTimes = distribution(signIn.map((load) => load.interactiveMs));
      const playgroundTimes = distribution(playground.map((load) => load.interactiveMs));
      const playgroundBytes = (playground[0] as Load).transferredBytes;
      const figures: Figure[] = [
        { key: "console.firstLoadKiB", label: "first load, on the wire (compressed bodies and headers)", value: first.transferredBytes / KIB, unit: "KiB" },
        { key: "console.firstLoadBodyKiB", label: "first load, compressed bodies alone", value: first.bodyBytes / KIB, unit: "KiB" },
        { key: "console.firstLoadRequests", label: "first load, requests", value: first.requests, unit: "count" },
        { key: "console.signInInteractiveMedianMs", label: "sign-in page interactive, median", value: signInTimes.p50, unit: "ms" },
        { key: "console.signInInteractiveP99Ms", label: "sign-in page interactive, p99", value: signInTimes.p99, unit: "ms" },
        { key: "console.playgroundKiB", label: "playground signed in, on the wire (with the model catalog)", value: playgroundBytes / KIB, unit: "KiB" },
        { key: "console.playgroundInteractiveMedianMs", label: "playground ready (models loaded), median", value: playgroundTimes.p50, unit: "ms" },
        { key: "console.playgroundInteractiveP99Ms", label: "playground ready (models loaded), p99", value: playgroundTimes.p99, unit: "ms" },
      ];
      return {
        figures,
        notes: [
          `${rounds} loads each, every one in a fresh browser context (no cache), over loopback with no network throttling;`,
          "interactive = from navigation start to the mark the console sets when its first screen takes input",
        ],
      };
    } finally {
      await browser?.close();
      await server?.stop();
      await removeDirectory(dataDir);
    }
  },
};
