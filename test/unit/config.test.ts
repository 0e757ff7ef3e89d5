import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { MODELS } from "../../src/domain/catalog/models/index.ts";

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
      urlSigningSecret: null,
      s3: null,
      databaseUrl: null,
      redis: null,
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
      models: Object.fromEntries(MODELS.map((model) => [model.id, expect.objectContaining({ upstream: model.defaultGeminiModel })])),
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

describe("GEMINI_MODEL_MAP and GEMINI_MODEL", () => {
  const MODEL_LIST = MODELS.map((model) => model.id).join(", ");
  const SEED = "nano-banana-text-to-image";
  const gemini = (env: Record<string, string>) => loadConfig({ GEMINI_API_KEY: "k", ...env }).gemini;
  /** Every public model on its catalog default, the seed named by GEMINI_MODEL, the rest by the map. */
  const defaults = Object.fromEntries(
    MODELS.map((model) => [
      model.id,
      { upstream: model.defaultGeminiModel, setting: model.id === SEED ? "GEMINI_MODEL" : "GEMINI_MODEL_MAP" },
    ]),
  );

  it("serves each model with its catalog default when neither is set", () => {
    expect(gemini({})?.models).toEqual(defaults);
  });

  it("maps the models it names and leaves the others on their defaults", () => {
    expect(gemini({ GEMINI_MODEL_MAP: " nano-banana-pro = gemini-3-pro-image-preview ,nano-banana-2=gemini-3.1-flash-image," })?.models).toEqual({
      ...defaults,
      "nano-banana-pro": { upstream: "gemini-3-pro-image-preview", setting: "GEMINI_MODEL_MAP" },
      "nano-banana-2": { upstream: "gemini-3.1-flash-image", setting: "GEMINI_MODEL_MAP" },
    });
  });

  it("keeps GEMINI_MODEL for the seed model alone", () => {
    expect(gemini({ GEMINI_MODEL: "gemini-2.5-flash-image", GEMINI_MODEL_MAP: "nano-banana-2-1=gemini-3.1-flash-image" })?.models).toEqual({
      ...defaults,
      [SEED]: { upstream: "gemini-2.5-flash-image", setting: "GEMINI_MODEL" },
      "nano-banana-2-1": { upstream: "gemini-3.1-flash-image", setting: "GEMINI_MODEL_MAP" },
    });
  });

  it("maps the seed model in GEMINI_MODEL_MAP too, naming that variable for it", () => {
    expect(gemini({ GEMINI_MODEL_MAP: `${SEED}=gemini-3.1-flash-image` })?.models[SEED]).toEqual({
      upstream: "gemini-3.1-flash-image",
      setting: "GEMINI_MODEL_MAP",
    });
  });

  it("refuses the seed model named in both", () => {
    expect(() => gemini({ GEMINI_MODEL: "gemini-a", GEMINI_MODEL_MAP: `${SEED}=gemini-b` })).toThrow(
      new ConfigError(`the upstream model of ${SEED} is set by both GEMINI_MODEL_MAP and GEMINI_MODEL; keep one`),
    );
  });

  it.each(["nano-banana-pro", "nano-banana-pro=", "=gemini-3-pro-image", "nano-banana-pro=gemini-3=pro", "nano-banana-pro=gemini 3 pro"])(
    "refuses the malformed entry %j, naming it and listing the models",
    (entry) => {
      expect(() => gemini({ GEMINI_MODEL_MAP: `nano-banana-2=gemini-3.1-flash-image,${entry}` })).toThrow(
        new ConfigError(
          "GEMINI_MODEL_MAP must be comma-separated public=upstream pairs such as " +
            `nano-banana-pro=gemini-3-pro-image,nano-banana-2=gemini-3.1-flash-image; got "${entry}" (the models are ${MODEL_LIST})`,
        ),
      );
    },
  );

  it("refuses a model the catalog does not have, naming the entry and listing the models", () => {
    expect(() => gemini({ GEMINI_MODEL_MAP: "nano-banana-3=gemini-4-image" })).toThrow(
      new ConfigError(`GEMINI_MODEL_MAP names no model "nano-banana-3" in "nano-banana-3=gemini-4-image"; the models are ${MODEL_LIST}`),
    );
  });

  it("refuses a model named twice", () => {
    expect(() => gemini({ GEMINI_MODEL_MAP: "nano-banana-pro=gemini-a,nano-banana-pro=gemini-b" })).toThrow(
      new ConfigError("GEMINI_MODEL_MAP names nano-banana-pro twice; keep one entry for it"),
    );
  });

  it("gives the fallback route the same map, with GEMINI_FALLBACK_MODEL moving its seed model alone", () => {
    const config = gemini({
      GEMINI_MODEL: "gemini-primary-seed",
      GEMINI_MODEL_MAP: "nano-banana-pro=gemini-3-pro-image-preview",
      GEMINI_FALLBACK_MODEL: "gemini-fallback-seed",
    });
    expect(config?.fallback?.models).toEqual({
      ...defaults,
      [SEED]: { upstream: "gemini-fallback-seed", setting: "GEMINI_FALLBACK_MODEL" },
      "nano-banana-pro": { upstream: "gemini-3-pro-image-preview", setting: "GEMINI_MODEL_MAP" },
    });
    expect(gemini({ GEMINI_MODEL: "gemini-primary-seed", GEMINI_FALLBACK_BASE_URL: "http://fallback.test" })?.fallback?.models[SEED]).toEqual({
      upstream: "gemini-primary-seed",
      setting: "GEMINI_MODEL",
    });
  });
});

describe("URL_SIGNING_SECRET", () => {
  it("takes base64 of at least 32 bytes", () => {
    const secret = Buffer.alloc(32, 7);
    expect(loadConfig({ URL_SIGNING_SECRET: secret.toString("base64") }).urlSigningSecret).toEqual(secret);
  });

  it.each([
    ["not base64!", /URL_SIGNING_SECRET must be base64/],
    [Buffer.alloc(31, 1).toString("base64"), /URL_SIGNING_SECRET must hold at least 32 bytes, got 31/],
  ])("refuses %s", (value, message) => {
    expect(() => loadConfig({ URL_SIGNING_SECRET: value })).toThrow(message);
  });
});

describe("REDIS_URL and REDIS_PREFIX", () => {
  it("takes a redis URL, with the prefix imagegate unless set", () => {
    expect(loadConfig({ REDIS_URL: "redis://127.0.0.1:6379" }).redis).toEqual({ url: "redis://127.0.0.1:6379", prefix: "imagegate" });
    expect(loadConfig({ REDIS_URL: "rediss://cache:6380", REDIS_PREFIX: "ig:prod" }).redis).toEqual({ url: "rediss://cache:6380", prefix: "ig:prod" });
  });

  it.each([
    [{ REDIS_URL: "http://127.0.0.1:6379" }, /REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ REDIS_URL: "not a url" }, /REDIS_URL must be a URL such as redis:\/\/127.0.0.1:6379/],
    [{ REDIS_URL: "redis://x", REDIS_PREFIX: "has space" }, /REDIS_PREFIX must be 1 to 64 letters/],
    [{ DATABASE_URL: "mysql://x/y" }, /DATABASE_URL must be a postgres:\/\/ URL/],
  ])("refuses %j", (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });
});

describe("ROLE and the backends it needs", () => {
  const secret = Buffer.alloc(32, 7).toString("base64");
  const shared = { DATABASE_URL: "postgres://127.0.0.1/imagegate", REDIS_URL: "redis://127.0.0.1:6379", URL_SIGNING_SECRET: secret };

  it("defaults to all, and takes api or worker where processes share a database and a queue", () => {
    expect(loadConfig({}).role).toBe("all");
    expect(loadConfig({ ...shared, ROLE: "api" }).role).toBe("api");
    expect(loadConfig({ ...shared, ROLE: "Worker" }).role).toBe("worker");
    expect(loadConfig({ ...shared }).queueReconcileMs).toBe(15_000);
    expect(loadConfig({ ...shared }).queueLockMs).toBe(30_000);
  });

  it.each([
    [{ ROLE: "both" }, /ROLE must be one of all, api, worker, got "both"/],
    [{ ROLE: "worker" }, /ROLE=worker \(serve --role worker\) needs DATABASE_URL: the SQLite database in DATA_DIR belongs to one process/],
    [{ ROLE: "api", REDIS_URL: "redis://127.0.0.1:6379" }, /ROLE=api \(serve --role api\) needs DATABASE_URL/],
    [{ ROLE: "api", DATABASE_URL: shared.DATABASE_URL }, /ROLE=api \(serve --role api\) needs REDIS_URL: API and worker processes hand tasks to each other through Redis/],
    [{ DATABASE_URL: shared.DATABASE_URL, REDIS_URL: shared.REDIS_URL }, /with DATABASE_URL and REDIS_URL, several processes serve one API .* set URL_SIGNING_SECRET/],
    [{ ...shared, QUEUE_LOCK_MS: "10" }, /QUEUE_LOCK_MS/],
  ])("refuses %j", (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it("lets one process use PostgreSQL without Redis, or Redis with SQLite, in every role of its own", () => {
    expect(loadConfig({ DATABASE_URL: shared.DATABASE_URL }).role).toBe("all");
    expect(loadConfig({ REDIS_URL: shared.REDIS_URL }).role).toBe("all");
  });
});

describe("S3_RESULT_URLS=presigned", () => {
  const PRESIGNED = { BLOB_STORE: "s3", S3_BUCKET: "images", S3_RESULT_URLS: "presigned" };

  it("is served with a retention a presigned URL can cover, a week at most", () => {
    expect(loadConfig({ ...PRESIGNED, RESULT_RETENTION_DAYS: "7" }).s3?.resultUrls).toBe("presigned");
    expect(loadConfig({ ...PRESIGNED, RESULT_RETENTION_DAYS: "1" }).s3?.resultUrls).toBe("presigned");
  });

  it("is refused with a longer retention, naming both variables and what to do", () => {
    expect(() => loadConfig({ ...PRESIGNED, RESULT_RETENTION_DAYS: "8" })).toThrow(
      new ConfigError(
        "S3_RESULT_URLS=presigned needs RESULT_RETENTION_DAYS of at most 7, got 8: a presigned URL lives at most 7 days, and a result URL must work for as long as its file is kept. Set RESULT_RETENTION_DAYS=7 or less, or leave S3_RESULT_URLS unset (signed) to keep files longer",
      ),
    );
  });

  it("is refused with the default retention, saying it is the default", () => {
    expect(() => loadConfig(PRESIGNED)).toThrow(/needs RESULT_RETENTION_DAYS of at most 7, got 14, the default:/);
  });

  it("leaves signed result URLs free of the week's limit", () => {
    expect(loadConfig({ ...PRESIGNED, S3_RESULT_URLS: "signed", RESULT_RETENTION_DAYS: "30" }).s3?.resultUrls).toBe("signed");
  });
});
