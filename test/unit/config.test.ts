import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";

describe("loadConfig", () => {
  it("has the embedded defaults", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      port: 8080,
      host: "0.0.0.0",
      dataDir: path.resolve("./data"),
      publicBaseUrl: "http://localhost:8080",
      imageProvider: "sandbox",
      sandboxLatencyMs: 1500,
      resultRetentionDays: 14,
      logLevel: "info",
      gemini: null,
      rateLimitCreateTask: { limit: 20, windowSeconds: 10 },
      rateLimitOther: { limit: 10, windowSeconds: 1 },
      activeTaskLimit: 100,
      prices: {},
      demoCredits: 1000,
      adminApiKey: null,
      metricsToken: null,
    });
  });

  it("reads METRICS_TOKEN, trimmed, from 16 characters on", () => {
    expect(loadConfig({ METRICS_TOKEN: " sixteen-chars-ok " }).metricsToken).toBe("sixteen-chars-ok");
  });

  it("follows PORT in the default public URL and trims a trailing slash from PUBLIC_BASE_URL", () => {
    expect(loadConfig({ PORT: "9000" }).publicBaseUrl).toBe("http://localhost:9000");
    expect(loadConfig({ PUBLIC_BASE_URL: "https://images.example.com/gate/" }).publicBaseUrl).toBe(
      "https://images.example.com/gate",
    );
  });

  it("selects Gemini whenever a key is configured, with its defaults", () => {
    const config = loadConfig({ GEMINI_API_KEYS: "one, two" });
    expect(config.imageProvider).toBe("gemini");
    expect(config.gemini).toMatchObject({
      apiKeys: ["one", "two"],
      model: "gemini-2.5-flash-image",
      timeoutMs: 60_000,
      maxAttempts: 4,
      maxConcurrency: 16,
      fallback: null,
    });
    expect(loadConfig({ GEMINI_API_KEY: "k", IMAGE_PROVIDER: "sandbox" }).imageProvider).toBe("sandbox");
  });

  it.each([
    [{ PORT: "70000" }, "PORT must be a whole number from 0 to 65535, got 70000"],
    [{ SANDBOX_LATENCY_MS: "-1" }, 'SANDBOX_LATENCY_MS must be a whole number from 0 to 600000, got "-1"'],
    [{ WORKER_CONCURRENCY: "0" }, "WORKER_CONCURRENCY must be a whole number from 1 to 100000, got 0"],
    [{ RESULT_RETENTION_DAYS: "two" }, 'RESULT_RETENTION_DAYS must be a whole number from 1 to 3650, got "two"'],
    [{ IMAGE_PROVIDER: "dalle" }, 'IMAGE_PROVIDER must be one of sandbox, gemini, got "dalle"'],
    [{ IMAGE_PROVIDER: "gemini" }, "IMAGE_PROVIDER=gemini needs GEMINI_API_KEY (or GEMINI_API_KEYS) to be set"],
    [{ PUBLIC_BASE_URL: "localhost:8080" }, 'PUBLIC_BASE_URL must be an absolute http(s) URL, got "localhost:8080"'],
    [{ LOG_LEVEL: "loud" }, 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
    [{ RATE_LIMIT_CREATE_TASK: "20 per 10s" }, 'RATE_LIMIT_CREATE_TASK must be a count per window such as 20/10s, got "20 per 10s"'],
    [{ ADMIN_API_KEY: "short" }, "ADMIN_API_KEY must be at least 24 characters long"],
    [{ METRICS_TOKEN: "fifteen-chars!!" }, "METRICS_TOKEN must be at least 16 characters long"],
    [{ GEMINI_API_KEY: "k", GEMINI_BASE_URL: "ftp://x" }, 'GEMINI_BASE_URL must be an absolute http(s) URL, got "ftp://x"'],
  ])("refuses %j, naming the variable", (environment, message) => {
    expect(() => loadConfig(environment)).toThrow(new ConfigError(message));
  });
});

describe("CORS_ORIGINS", () => {
  const origins = "origins such as https://app.example.com,http://localhost:3000 (scheme, host and optional port; no path)";

  it("is off when unset", () => {
    expect(loadConfig({}).corsOrigins).toBeNull();
    expect(loadConfig({ CORS_ORIGINS: " " }).corsOrigins).toBeNull();
  });

  it("allows any origin with *", () => {
    expect(loadConfig({ CORS_ORIGINS: "*" }).corsOrigins).toBe("*");
  });

  it("keeps listed origins as browsers send them: lower-case host, no default port", () => {
    expect(loadConfig({ CORS_ORIGINS: "https://App.Example.com, http://localhost:3000,https://b.example:443" }).corsOrigins).toEqual([
      "https://app.example.com",
      "http://localhost:3000",
      "https://b.example",
    ]);
  });

  it.each(["https://app.example.com/", "https://app.example.com/path", "app.example.com", "ftp://app.example.com", "https://user@app.example.com", "https://app.example.com?x=1", "null"])(
    "refuses %s, naming the variable",
    (entry) => {
      expect(() => loadConfig({ CORS_ORIGINS: `http://localhost:3000,${entry}` })).toThrow(
        new ConfigError(`CORS_ORIGINS must be * alone or ${origins}, got "${entry}"`),
      );
    },
  );

  it("refuses * among origins", () => {
    expect(() => loadConfig({ CORS_ORIGINS: "*,https://app.example.com" })).toThrow(
      new ConfigError(`CORS_ORIGINS must be * alone or ${origins}, got "*"`),
    );
  });
});

describe("PRICES", () => {
  const load = (env: Record<string, string>) => loadConfig({ ...env });

  it("takes one figure or one per resolution, by model id, from JSON", () => {
    const config = load({ PRICES: '{"nano-banana-pro": {"1K": 10, "4K": 30}, "google/nano-banana": 2}' });
    expect(config.prices).toEqual({ "nano-banana-pro": { "1K": 10, "4K": 30 }, "google/nano-banana": 2 });
  });

  it("reads a file when the value is a path", () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "prices-")), "prices.json");
    writeFileSync(file, '{"nano-banana-2": {"2K": 20}}');
    expect(load({ PRICES: file }).prices).toEqual({ "nano-banana-2": { "2K": 20 } });
  });

  it("keeps PRICE_NANO_BANANA_TEXT_TO_IMAGE beside it", () => {
    expect(load({ PRICE_NANO_BANANA_TEXT_TO_IMAGE: "9", PRICES: '{"nano-banana-pro": 5}' }).prices).toEqual({
      "nano-banana-text-to-image": 9,
      "nano-banana-pro": 5,
    });
  });

  it.each([
    ['{"dall-e": 3}', /PRICES names no model "dall-e"; the models are nano-banana-text-to-image, /],
    ['{"nano-banana-pro": {"8K": 3}}', /PRICES: nano-banana-pro has no resolution "8K"; it has 1K, 2K, 4K/],
    ['{"google/nano-banana": {"2K": 3}}', /google\/nano-banana has no resolution "2K"; it has 1K/],
    ['{"nano-banana-pro": -1}', /PRICES: nano-banana-pro must be a whole number of credits from 0 to 1000000, got -1/],
    ['{"nano-banana-pro": {"1K": 1.5}}', /nano-banana-pro at 1K must be a whole number/],
    ['{"nano-banana-pro": "18"}', /nano-banana-pro must be a number of credits or an object of them per resolution/],
    ["[1]", /PRICES must be a JSON object such as/],
    ["{nope", /PRICES is not valid JSON/],
    ["/no/such/prices.json", /could not read "\/no\/such\/prices.json" \(ENOENT\)/],
  ])("refuses %s, saying why", (value, message) => {
    expect(() => load({ PRICES: value })).toThrow(ConfigError);
    expect(() => load({ PRICES: value })).toThrow(message);
  });

  it("refuses the seed model's price set twice", () => {
    expect(() => load({ PRICE_NANO_BANANA_TEXT_TO_IMAGE: "9", PRICES: '{"nano-banana-text-to-image": 5}' })).toThrow(
      /set by both PRICES and PRICE_NANO_BANANA_TEXT_TO_IMAGE/,
    );
  });
});
