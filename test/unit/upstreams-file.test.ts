import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { MODEL_SPECS } from "../../src/domain/catalog/models/specs.ts";
import { parseUpstreams } from "../../src/providers/upstreams/upstreams-file.ts";

const YAML = `# two Gemini upstreams
breaker:
  coolDownMs: 5000
upstreams:
  - name: gemini-a
    kind: gemini
    apiKey: \${KEY_A}
    maxConcurrency: 8
    price: 0.134
  - name: gemini-b
    kind: gemini
    apiKeys: [k1, k2]
    baseUrl: http://127.0.0.1:9999
    weight: 3
    models:
      nano-banana-pro: gemini-3-pro-image-preview
    breaker:
      consecutiveFailures: 2
routes:
  nano-banana-pro:
    policy: weighted
    upstreams: [gemini-a, gemini-b]
  "*":
    upstreams: [gemini-a, gemini-b]
`;

const ENV = { KEY_A: "secret-a" };

function fails(source: string, env: Record<string, string> = ENV, file = "upstreams.yaml"): string {
  try {
    parseUpstreams(file, source, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

describe("UPSTREAMS_FILE", () => {
  it("reads upstreams, routes and breakers from YAML, filling ${NAME} from the environment", () => {
    const config = parseUpstreams("upstreams.yaml", YAML, ENV);
    const [a, b] = config.upstreams;
    expect(a).toMatchObject({
      name: "gemini-a",
      kind: "gemini",
      apiKeys: ["secret-a"],
      maxConcurrency: 8,
      maxAttempts: 2,
      timeoutMs: 60_000,
      weight: 1,
      price: 0.134,
      breaker: { consecutiveFailures: 5, failureRate: 0.5, minimumAttempts: 20, coolDownMs: 5000 },
    });
    // No models listed: the catalog's Gemini defaults.
    expect(a?.models).toEqual(Object.fromEntries(MODEL_SPECS.map((model) => [model.id, model.geminiModel])));
    expect(b).toMatchObject({ apiKeys: ["k1", "k2"], baseUrl: "http://127.0.0.1:9999", weight: 3, price: null, breaker: { consecutiveFailures: 2, coolDownMs: 5000 } });
    expect(config.routes["nano-banana-pro"]).toEqual({ policy: "weighted", upstreams: ["gemini-a", "gemini-b"] });
    // "*" covers the rest, with the upstreams that serve each model.
    expect(config.routes["nano-banana-2"]).toEqual({ policy: "failover", upstreams: ["gemini-a"] });
    expect(Object.keys(config.routes).sort()).toEqual(MODEL_SPECS.map((model) => model.id).sort());
  });

  it("reads the same from JSON", () => {
    const json = JSON.stringify(
      {
        upstreams: [{ name: "g", kind: "gemini", apiKey: "${KEY_A}", timeoutMs: 30000 }],
        routes: { "*": { upstreams: ["g"] } },
      },
      null,
      2,
    );
    const config = parseUpstreams("upstreams.json", json, ENV);
    expect(config.upstreams[0]).toMatchObject({ name: "g", apiKeys: ["secret-a"], timeoutMs: 30_000 });
    expect(config.routes["nano-banana-pro"]).toEqual({ policy: "failover", upstreams: ["g"] });
  });

  it("names the file and line of a bad value", () => {
    const source = YAML.replace("maxConcurrency: 8", "maxConcurrency: 0");
    expect(fails(source)).toBe("upstreams.yaml:8: upstreams[0].maxConcurrency must be a whole number from 1 to 10000");
  });

  it("names the line of a bad value in JSON too", () => {
    const json = '{\n  "upstreams": [\n    {"name": "g", "kind": "gemini", "apiKey": "k",\n     "maxAttempts": 99}\n  ],\n  "routes": {"*": {"upstreams": ["g"]}}\n}\n';
    expect(fails(json, ENV, "upstreams.json")).toBe("upstreams.json:4: upstreams[0].maxAttempts must be a whole number from 1 to 20");
  });

  it("says where the file is not valid JSON", () => {
    expect(fails('{\n  "upstreams": [,\n}', ENV, "u.json")).toMatch(/^u\.json(:\d+)?: not valid JSON/);
  });

  it("names the line of a variable that is not set", () => {
    expect(fails(YAML, {})).toBe("upstreams.yaml:7: upstreams[0].apiKey names the environment variable KEY_A, which is not set");
  });

  it("names the models left without a route", () => {
    const source = YAML.replace(/ {2}"\*":\n.*\n/, "");
    expect(fails(source)).toMatch(/^upstreams\.yaml:20: routes leaves nano-banana-text-to-image, google\/nano-banana, .*, nano-banana-2-1 without an upstream/);
  });

  it("refuses a route naming an unknown upstream, on its line", () => {
    expect(fails(YAML.replace("upstreams: [gemini-a, gemini-b]\n  \"*\"", "upstreams: [gemini-a, gemini-c]\n  \"*\""))).toBe(
      'upstreams.yaml:22: routes.nano-banana-pro.upstreams[1] names no upstream "gemini-c"; the upstreams are gemini-a, gemini-b',
    );
  });

  it("refuses an unknown public model, in routes and in models", () => {
    expect(fails(YAML.replace("routes:\n  nano-banana-pro:", "routes:\n  nano-banana-9:"))).toMatch(/^upstreams\.yaml:20: routes names no model "nano-banana-9"/);
    expect(fails(YAML.replace("      nano-banana-pro: gemini-3", "      banana: gemini-3"))).toMatch(/^upstreams\.yaml:16: upstreams\[1\]\.models names no model "banana"/);
  });

  it("refuses a route to an upstream whose models leave the model out", () => {
    const source = YAML.replace("  nano-banana-pro:\n    policy: weighted", "  nano-banana-2:\n    policy: weighted");
    expect(fails(source)).toMatch(/routes\.nano-banana-2 names gemini-b, whose models do not include nano-banana-2/);
  });

  it("refuses duplicate names, bad names, unknown kinds and misspelt settings", () => {
    expect(fails(YAML.replace("name: gemini-b", "name: gemini-a"))).toMatch(/^upstreams\.yaml:10: upstreams\[1\]\.name "gemini-a" is already the name/);
    expect(fails(YAML.replace("name: gemini-b", "name: Gemini_B"))).toMatch(/^upstreams\.yaml:10: upstreams\[1\]\.name must be 1 to 64 of a-z, 0-9 and -/);
    expect(fails(YAML.replace("kind: gemini\n    apiKeys", "kind: dalle\n    apiKeys"))).toMatch(/^upstreams\.yaml:11: upstreams\[1\]\.kind must be one of gemini, vertex, openrouter, fal, replicate/);
    expect(fails(YAML.replace("maxConcurrency: 8", "maxConcurency: 8"))).toMatch(/^upstreams\.yaml:8: upstreams\[0\]\.maxConcurency is not a setting here/);
  });

  it("needs each kind's credentials, and takes each kind's default model ids when it lists none", () => {
    const one = (body: string) => `upstreams:\n  - name: u\n${body}routes:\n  "*":\n    upstreams: [u]\n`;
    expect(fails(one("    kind: gemini\n"))).toMatch(/upstreams\[0\] needs apiKeys \(a list\) or apiKey/);
    expect(fails(one("    kind: openrouter\n    models: {nano-banana-pro: google/gemini-3-pro-image-preview}\n"))).toMatch(/upstreams\[0\]\.apiKey is required/);
    const replicate = parseUpstreams("u.yaml", one("    kind: replicate\n    apiToken: t\n"), {});
    expect(replicate.upstreams[0]?.models["nano-banana-pro"]).toBe("google/nano-banana-pro");
    const vertex = parseUpstreams(
      "u.yaml",
      [
        "upstreams:",
        "  - {name: v, kind: vertex, project: p, location: global, models: {nano-banana-pro: gemini-3-pro-image-preview}}",
        "  - {name: g, kind: gemini, apiKey: k}",
        "routes:",
        "  nano-banana-pro: {upstreams: [v, g]}",
        '  "*": {upstreams: [v, g]}',
      ].join("\n"),
      {},
    );
    expect(vertex.routes["nano-banana-2"]?.upstreams).toEqual(["g"]);
    expect(vertex.upstreams[0]).toMatchObject({ kind: "vertex", project: "p", location: "global" });
  });

  it("refuses a breaker setting out of range, on its line", () => {
    expect(fails(YAML.replace("coolDownMs: 5000", "coolDownMs: 5"))).toBe("upstreams.yaml:3: breaker.coolDownMs must be a whole number from 100 to 86400000");
    expect(fails(YAML.replace("consecutiveFailures: 2", "failureRate: 2"))).toBe("upstreams.yaml:18: upstreams[1].breaker.failureRate must be a number from 0.01 to 1");
  });
});

describe("loadConfig with UPSTREAMS_FILE", () => {
  const directory = mkdtempSync(path.join(tmpdir(), "imagegate-upstreams-"));
  const file = path.join(directory, "upstreams.yaml");
  writeFileSync(file, YAML);

  it("routes through the file's upstreams", () => {
    const config = loadConfig({ UPSTREAMS_FILE: file, KEY_A: "secret-a" });
    expect(config.imageProvider).toBe("upstreams");
    expect(config.upstreams?.upstreams.map((upstream) => upstream.name)).toEqual(["gemini-a", "gemini-b"]);
    expect(config.gemini).toBeNull();
  });

  it.each([
    [{ GEMINI_API_KEY: "k" }, "GEMINI_API_KEY does"],
    [{ GEMINI_API_KEYS: "k1,k2", GEMINI_FALLBACK_BASE_URL: "http://x" }, "GEMINI_API_KEYS, GEMINI_FALLBACK_BASE_URL do"],
  ])("refuses the GEMINI_* upstream variables beside it: %j", (environment, named) => {
    expect(() => loadConfig({ UPSTREAMS_FILE: file, KEY_A: "a", ...environment })).toThrow(
      new RegExp(`^UPSTREAMS_FILE configures the upstreams, and ${named.replace("*", "\\*")} too`),
    );
  });

  it("leaves the file unread when IMAGE_PROVIDER=sandbox forces the sandbox", () => {
    expect(loadConfig({ UPSTREAMS_FILE: file, IMAGE_PROVIDER: "sandbox" })).toMatchObject({ imageProvider: "sandbox", upstreams: null });
  });

  it("refuses IMAGE_PROVIDER=gemini beside it, and a file it cannot read", () => {
    expect(() => loadConfig({ UPSTREAMS_FILE: file, IMAGE_PROVIDER: "gemini", KEY_A: "a" })).toThrow(ConfigError);
    expect(() => loadConfig({ UPSTREAMS_FILE: path.join(directory, "missing.yaml") })).toThrow(/UPSTREAMS_FILE: could not read/);
  });
});
