// Writes the README's console screenshots (docs/images/console-*.png): a server on the sandbox
// with a few tasks, then the playground and the history in headless Chromium at 1280 × 860.
// Run: npx tsx scripts/console-screenshots.ts
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const ROOT = path.resolve(import.meta.dirname, "..");
const PORT = 18_765;
const BASE = `http://127.0.0.1:${PORT}`;
const PROMPTS: [string, string, string][] = [
  ["nano-banana-2", "A banana-shaped airship over a misty harbour at dawn", "16:9"],
  ["nano-banana-pro", "Isometric cutaway of a tiny greenhouse full of lemon trees", "1:1"],
  ["google/nano-banana", "A fox in a red scarf reading a newspaper, watercolour", "4:3"],
  ["nano-banana-2", "Neon noodle bar on a rainy street, cinematic", "21:9"],
  ["nano-banana-text-to-image", "A ceramic teapot shaped like a snail, studio light", "1:1"],
  ["nano-banana-2", "Aerial view of terraced rice fields in autumn", "3:2"],
  ["nano-banana-pro", "Retro travel poster for the planet Saturn", "2:3"],
  ["google/nano-banana", "A lighthouse made of stacked books", "9:16"],
];

const dataDir = await mkdtemp(path.join(os.tmpdir(), "imagegate-screenshots-"));
const server = spawn(process.execPath, ["bin/imagegate.js", "serve"], {
  cwd: ROOT,
  env: { ...process.env, PORT: String(PORT), HOST: "127.0.0.1", PUBLIC_BASE_URL: BASE, DATA_DIR: dataDir, SANDBOX_LATENCY_MS: "400", LOG_LEVEL: "warn" },
  stdio: ["ignore", "pipe", "inherit"],
});
const key = await new Promise<string>((resolve, reject) => {
  server.once("exit", () => reject(new Error("the server stopped before printing its key")));
  createInterface({ input: server.stdout }).on("line", (line) => {
    const match = /ig_live_[A-Za-z0-9_-]{32}/.exec(line);
    if (match !== null) resolve(match[0]);
  });
});
try {
  for (const [model, prompt, ratio] of PROMPTS) {
    const field = model.startsWith("nano-banana-2") || model === "nano-banana-pro" ? "aspect_ratio" : "image_size";
    await fetch(`${BASE}/api/v1/jobs/createTask`, {
      method: "POST",
      headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json" },
      body: JSON.stringify({ model, input: { prompt, [field]: ratio } }),
    });
  }
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu"] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  await page.emulateMedia({ colorScheme: "light" });
  await page.goto(`${BASE}/`);
  await page.getByLabel("API key or admin key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByLabel("Model", { exact: true }).selectOption("nano-banana-2");
  await page.getByLabel("Prompt", { exact: true }).fill("A banana-shaped airship over a misty harbour at dawn, golden light");
  await page.getByLabel("Aspect ratio").selectOption("16:9");
  await page.getByRole("button", { name: "Generate" }).click();
  await page.locator(".result-figure img").waitFor();
  // Clicking Generate scrolled the button into view: the picture shows the page from its top.
  await page.evaluate(() => scrollTo(0, 0));
  await page.waitForTimeout(500);
  await page.screenshot({ path: path.join(ROOT, "docs/images/console-playground.png") });
  await page.evaluate(() => (location.hash = "#/history"));
  await page.locator("main img").first().waitFor();
  await page.mouse.move(0, 0);
  await page.waitForTimeout(1000);
  await page.screenshot({ path: path.join(ROOT, "docs/images/console-history.png") });
  await browser.close();
} finally {
  server.kill("SIGTERM");
  await new Promise((resolve) => server.once("exit", resolve));
  await rm(dataDir, { recursive: true, force: true });
}
