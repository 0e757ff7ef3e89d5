import { readFileSync } from "node:fs";
import { isMap, isNode, isPair, isScalar, isSeq, LineCounter, parseDocument, type Node, type YAMLMap } from "yaml";
import { ConfigError } from "../../config-error.ts";
import { MODEL_SPECS } from "../../domain/catalog/models/specs.ts";
import { DEFAULT_BREAKER, type BreakerSettings } from "../routing/circuit-breaker.ts";
import { ROUTE_POLICIES, type RoutePolicy } from "../routing/routed-image-provider.ts";
import { DEFAULT_UPSTREAM_MODELS } from "./default-models.ts";
import { UPSTREAM_KINDS, type UpstreamKind, type UpstreamOptions } from "./kinds.ts";

/** What the process gives every upstream at start, rather than the file. */
type RuntimeParts = "logger" | "observer" | "clock" | "sleep" | "random" | "fetch";
type WithoutRuntime<T> = T extends unknown ? Omit<T, RuntimeParts> : never;

/** One upstream of the file, ready for createUpstream once the process adds its logger and meter. */
export type UpstreamDefinition = WithoutRuntime<UpstreamOptions> & {
  /** Its share of a weighted route's first tries. */
  weight: number;
  /** USD per image, informational: shown beside its figures. */
  price: number | null;
  breaker: BreakerSettings;
};

export interface RouteDefinition {
  policy: RoutePolicy;
  /** Upstream names, in the configured order. */
  upstreams: string[];
}

export interface UpstreamsConfig {
  /** UPSTREAMS_FILE as given. */
  file: string;
  upstreams: UpstreamDefinition[];
  /** Every public model's route ("*" already spread over the models it covers). */
  routes: Record<string, RouteDefinition>;
}

const NAME = /^[a-z0-9-]{1,64}$/;
const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const WILDCARD = "*";
const PUBLIC_IDS = MODEL_SPECS.map((model) => model.id);

const COMMON_FIELDS = ["name", "kind", "baseUrl", "models", "timeoutMs", "maxAttempts", "maxConcurrency", "weight", "price", "breaker"];
const KIND_FIELDS: Record<UpstreamKind, readonly string[]> = {
  gemini: ["apiKeys", "apiKey", "apiVersion"],
  vertex: ["project", "location", "credentialsFile"],
  openrouter: ["apiKey"],
  fal: ["apiKey", "pollIntervalMs"],
  replicate: ["apiToken", "pollIntervalMs"],
};
const BREAKER_FIELDS = ["consecutiveFailures", "failureRate", "minimumAttempts", "coolDownMs"] as const;

/** Reads a file's node: its line in messages, its value with ${NAME} filled from the environment. */
class FileReader {
  readonly #file: string;
  readonly #lines: LineCounter;
  readonly #env: Readonly<Record<string, string | undefined>>;

  constructor(file: string, lines: LineCounter, env: Readonly<Record<string, string | undefined>>) {
    this.#file = file;
    this.#lines = lines;
    this.#env = env;
  }

  /** A ConfigError that names the file and the node's line. */
  error(node: unknown, message: string): ConfigError {
    const offset = isNode(node) ? node.range?.[0] : isPair(node) && isNode(node.key) ? node.key.range?.[0] : undefined;
    const line = offset === undefined ? null : this.#lines.linePos(offset).line;
    return new ConfigError(`${this.#file}${line === null ? "" : `:${line}`}: ${message}`);
  }

  map(node: unknown, where: string, what: string): YAMLMap<unknown, unknown> {
    if (!isMap(node)) throw this.error(node as Node, `${where} must be ${what}`);
    return node;
  }

  /** The map's keys are all among `allowed`; a typo is named with the line it is on. */
  onlyFields(node: YAMLMap<unknown, unknown>, where: string, allowed: readonly string[]): void {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      if (!allowed.includes(key)) throw this.error(pair.key as Node, `${where}.${key} is not a setting here; the settings are ${allowed.join(", ")}`);
    }
  }

  /** A string, with every ${NAME} replaced by the variable's value. */
  text(node: unknown, where: string): string {
    if (!isScalar(node) || (typeof node.value !== "string" && typeof node.value !== "number")) {
      throw this.error(node as Node, `${where} must be a string`);
    }
    return String(node.value).replace(VARIABLE, (_match, variable: string) => {
      const value = this.#env[variable];
      if (value === undefined || value.trim() === "") {
        throw this.error(node, `${where} names the environment variable ${variable}, which is not set`);
      }
      return value.trim();
    });
  }

  optionalText(map: YAMLMap<unknown, unknown>, field: string, where: string): string | undefined {
    const node = map.get(field, true);
    return node === undefined ? undefined : this.text(node, `${where}.${field}`);
  }

  requiredText(map: YAMLMap<unknown, unknown>, field: string, where: string): string {
    const value = this.optionalText(map, field, where);
    if (value === undefined || value === "") throw this.error(map, `${where}.${field} is required`);
    return value;
  }

  /** A number in range, given as one or as a string (from ${NAME}). */
  number(map: YAMLMap<unknown, unknown>, field: string, where: string, range: { min: number; max: number; whole: boolean }): number | undefined {
    const node = map.get(field, true) as Node | undefined;
    if (node === undefined) return undefined;
    const raw = isScalar(node) && typeof node.value === "number" ? node.value : Number(isScalar(node) ? this.text(node, `${where}.${field}`) : Number.NaN);
    const kind = range.whole ? "a whole number" : "a number";
    if (!Number.isFinite(raw) || raw < range.min || raw > range.max || (range.whole && !Number.isInteger(raw))) {
      throw this.error(node, `${where}.${field} must be ${kind} from ${range.min} to ${range.max}`);
    }
    return raw;
  }

  list(node: unknown, where: string): Node[] {
    if (!isSeq(node)) throw this.error(node as Node, `${where} must be a list`);
    return node.items as Node[];
  }
}

function httpUrl(reader: FileReader, node: Node, where: string, raw: string): string {
  try {
    const url = new URL(raw);
    if (url.protocol === "http:" || url.protocol === "https:") return raw;
  } catch {
    // Answered below.
  }
  throw reader.error(node, `${where} must be an absolute http(s) URL`);
}

function readBreaker(reader: FileReader, node: unknown, where: string, base: BreakerSettings): BreakerSettings {
  if (node === undefined) return base;
  const map = reader.map(node, where, `a map of ${BREAKER_FIELDS.join(", ")}`);
  reader.onlyFields(map, where, BREAKER_FIELDS);
  return {
    consecutiveFailures: reader.number(map, "consecutiveFailures", where, { min: 1, max: 1_000, whole: true }) ?? base.consecutiveFailures,
    failureRate: reader.number(map, "failureRate", where, { min: 0.01, max: 1, whole: false }) ?? base.failureRate,
    minimumAttempts: reader.number(map, "minimumAttempts", where, { min: 1, max: 10_000, whole: true }) ?? base.minimumAttempts,
    coolDownMs: reader.number(map, "coolDownMs", where, { min: 100, max: 86_400_000, whole: true }) ?? base.coolDownMs,
  };
}

function readModels(reader: FileReader, map: YAMLMap<unknown, unknown>, where: string, kind: UpstreamKind): Record<string, string> {
  const node = map.get("models", true);
  // Every kind has its default ids; a map given replaces them whole, so an upstream serves only what it lists.
  if (node === undefined) return { ...DEFAULT_UPSTREAM_MODELS[kind] };
  const models = reader.map(node, `${where}.models`, "a map of public model id to the upstream's model id");
  const result: Record<string, string> = {};
  for (const pair of models.items) {
    const publicId = isScalar(pair.key) ? String(pair.key.value) : "";
    if (!PUBLIC_IDS.includes(publicId)) {
      throw reader.error(pair.key as Node, `${where}.models names no model "${publicId}"; the models are ${PUBLIC_IDS.join(", ")}`);
    }
    const upstreamId = reader.text(pair.value, `${where}.models.${publicId}`);
    if (upstreamId === "") throw reader.error(pair.value as Node, `${where}.models.${publicId} must name the upstream's model id`);
    result[publicId] = upstreamId;
  }
  if (Object.keys(result).length === 0) throw reader.error(models, `${where}.models must map at least one model`);
  return result;
}

function readKindOptions(reader: FileReader, map: YAMLMap<unknown, unknown>, where: string, kind: UpstreamKind): Record<string, unknown> {
  const pollIntervalMs = reader.number(map, "pollIntervalMs", where, { min: 10, max: 60_000, whole: true });
  switch (kind) {
    case "gemini": {
      const keysNode = map.get("apiKeys", true);
      const single = reader.optionalText(map, "apiKey", where);
      if (keysNode !== undefined && single !== undefined) throw reader.error(map, `${where} sets both apiKeys and apiKey; keep one`);
      const apiKeys =
        keysNode === undefined
          ? (single ?? "").split(",")
          : isSeq(keysNode)
            ? reader.list(keysNode, `${where}.apiKeys`).map((key, index) => reader.text(key, `${where}.apiKeys[${index}]`))
            : reader.text(keysNode, `${where}.apiKeys`).split(",");
      const keys = apiKeys.map((key) => key.trim()).filter((key) => key !== "");
      if (keys.length === 0) throw reader.error(map, `${where} needs apiKeys (a list) or apiKey`);
      const apiVersion = reader.optionalText(map, "apiVersion", where);
      return { apiKeys: keys, ...(apiVersion === undefined ? {} : { apiVersion }) };
    }
    case "vertex": {
      const credentialsFile = reader.optionalText(map, "credentialsFile", where);
      return {
        project: reader.requiredText(map, "project", where),
        location: reader.requiredText(map, "location", where),
        ...(credentialsFile === undefined ? {} : { credentialsFile }),
      };
    }
    case "openrouter":
      return { apiKey: reader.requiredText(map, "apiKey", where) };
    case "fal":
      return { apiKey: reader.requiredText(map, "apiKey", where), ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }) };
    case "replicate":
      return { apiToken: reader.requiredText(map, "apiToken", where), ...(pollIntervalMs === undefined ? {} : { pollIntervalMs }) };
  }
}

function readUpstream(reader: FileReader, node: Node, index: number, breaker: BreakerSettings): UpstreamDefinition {
  const where = `upstreams[${index}]`;
  const map = reader.map(node, where, "a map with at least name and kind");
  const name = reader.requiredText(map, "name", where);
  if (!NAME.test(name)) throw reader.error(map.get("name", true) as Node, `${where}.name must be 1 to 64 of a-z, 0-9 and -, got "${name}"`);
  const kindText = reader.requiredText(map, "kind", where);
  const kind = UPSTREAM_KINDS.find((candidate) => candidate === kindText);
  if (kind === undefined) throw reader.error(map.get("kind", true) as Node, `${where}.kind must be one of ${UPSTREAM_KINDS.join(", ")}, got "${kindText}"`);
  reader.onlyFields(map, where, [...COMMON_FIELDS, ...KIND_FIELDS[kind]]);
  const baseUrlNode = map.get("baseUrl", true) as Node | undefined;
  const baseUrl = baseUrlNode === undefined ? undefined : httpUrl(reader, baseUrlNode, `${where}.baseUrl`, reader.text(baseUrlNode, `${where}.baseUrl`));
  return {
    kind,
    name,
    ...readKindOptions(reader, map, where, kind),
    models: readModels(reader, map, where, kind),
    ...(baseUrl === undefined ? {} : { baseUrl }),
    timeoutMs: reader.number(map, "timeoutMs", where, { min: 1_000, max: 600_000, whole: true }) ?? 60_000,
    // Failover to the next upstream is the better retry, so each upstream retries once.
    maxAttempts: reader.number(map, "maxAttempts", where, { min: 1, max: 20, whole: true }) ?? 2,
    maxConcurrency: reader.number(map, "maxConcurrency", where, { min: 1, max: 10_000, whole: true }) ?? 16,
    weight: reader.number(map, "weight", where, { min: 0, max: 1_000_000, whole: false }) ?? 1,
    price: reader.number(map, "price", where, { min: 0, max: 1_000, whole: false }) ?? null,
    breaker: readBreaker(reader, map.get("breaker", true), `${where}.breaker`, breaker),
  } as UpstreamDefinition;
}

function readRoute(reader: FileReader, node: unknown, where: string, known: ReadonlyMap<string, UpstreamDefinition>): RouteDefinition & { node: Node } {
  const map = reader.map(node, where, "a map with upstreams (a list of names) and an optional policy");
  reader.onlyFields(map, where, ["policy", "upstreams"]);
  const policyText = reader.optionalText(map, "policy", where) ?? "failover";
  const policy = ROUTE_POLICIES.find((candidate) => candidate === policyText);
  if (policy === undefined) throw reader.error(map.get("policy", true) as Node, `${where}.policy must be one of ${ROUTE_POLICIES.join(", ")}, got "${policyText}"`);
  const listNode = map.get("upstreams", true);
  if (listNode === undefined) throw reader.error(map, `${where}.upstreams is required`);
  const items = reader.list(listNode, `${where}.upstreams`);
  if (items.length === 0) throw reader.error(listNode as Node, `${where}.upstreams must name at least one upstream`);
  const upstreams: string[] = [];
  for (const [index, item] of items.entries()) {
    const name = reader.text(item, `${where}.upstreams[${index}]`);
    if (!known.has(name)) throw reader.error(item, `${where}.upstreams[${index}] names no upstream "${name}"; the upstreams are ${[...known.keys()].join(", ")}`);
    if (upstreams.includes(name)) throw reader.error(item, `${where}.upstreams names ${name} twice`);
    upstreams.push(name);
  }
  return { policy, upstreams, node: map };
}

/** Parses the text as YAML, or as JSON when the file's name ends in .json; positions either way. */
function parse(file: string, source: string, lines: LineCounter): Node | null {
  if (file.toLowerCase().endsWith(".json")) {
    try {
      JSON.parse(source);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const at = /position (\d+)/.exec(reason);
      const line = at?.[1] === undefined ? "" : `:${source.slice(0, Number(at[1])).split("\n").length}`;
      throw new ConfigError(`${file}${line}: not valid JSON (${reason})`);
    }
  }
  // JSON is YAML too: one parser gives the positions of both.
  const document = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const first = document.errors[0];
  if (first !== undefined) {
    throw new ConfigError(`${file}:${lines.linePos(first.pos[0]).line}: not valid ${file.endsWith(".json") ? "JSON" : "YAML"} (${first.message.split("\n")[0]})`);
  }
  return document.contents as Node | null;
}

/**
 * Reads UPSTREAMS_FILE: the upstreams, each public model's route, the circuit breakers. Every
 * problem is a ConfigError naming the file and the line; `${NAME}` in a string is read from the
 * environment, so the file need hold no secret.
 */
export function readUpstreamsFile(file: string, env: Readonly<Record<string, string | undefined>>): UpstreamsConfig {
  let source: string;
  try {
    source = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`UPSTREAMS_FILE: could not read "${file}" (${error instanceof Error ? error.message : String(error)})`);
  }
  return parseUpstreams(file, source, env);
}

export function parseUpstreams(file: string, source: string, env: Readonly<Record<string, string | undefined>>): UpstreamsConfig {
  const lines = new LineCounter();
  const reader = new FileReader(file, lines, env);
  const root = reader.map(parse(file, source, lines), "the file", "a map with upstreams and routes (and optionally breaker)");
  reader.onlyFields(root, "the file", ["upstreams", "routes", "breaker"]);
  const breaker = readBreaker(reader, root.get("breaker", true), "breaker", DEFAULT_BREAKER);

  const upstreamsNode = root.get("upstreams", true);
  if (upstreamsNode === undefined) throw reader.error(root, "upstreams is required: a list of upstreams");
  const items = reader.list(upstreamsNode, "upstreams");
  if (items.length === 0) throw reader.error(upstreamsNode as Node, "upstreams must list at least one upstream");
  const upstreams = new Map<string, UpstreamDefinition>();
  for (const [index, item] of items.entries()) {
    const upstream = readUpstream(reader, item, index, breaker);
    if (upstreams.has(upstream.name)) throw reader.error(item, `upstreams[${index}].name "${upstream.name}" is already the name of another upstream`);
    upstreams.set(upstream.name, upstream);
  }

  const routesNode = root.get("routes", true);
  if (routesNode === undefined) throw reader.error(root, `routes is required: a map of public model id (or "${WILDCARD}") to its upstreams`);
  const routesMap = reader.map(routesNode, "routes", `a map of public model id (or "${WILDCARD}") to its upstreams`);
  const routes: Record<string, RouteDefinition> = {};
  let wildcard: (RouteDefinition & { node: Node }) | null = null;
  for (const pair of routesMap.items) {
    const modelId = isScalar(pair.key) ? String(pair.key.value) : "";
    if (modelId !== WILDCARD && !PUBLIC_IDS.includes(modelId)) {
      throw reader.error(pair.key as Node, `routes names no model "${modelId}"; the models are ${PUBLIC_IDS.join(", ")} (or "${WILDCARD}" for the rest)`);
    }
    const route = readRoute(reader, pair.value, `routes.${modelId}`, upstreams);
    if (modelId === WILDCARD) {
      wildcard = route;
      continue;
    }
    for (const name of route.upstreams) {
      if (upstreams.get(name)?.models[modelId] === undefined) {
        throw reader.error(route.node, `routes.${modelId} names ${name}, whose models do not include ${modelId}`);
      }
    }
    routes[modelId] = { policy: route.policy, upstreams: route.upstreams };
  }
  // "*" covers the models without a route of their own, each with the upstreams that serve it.
  const unrouted: string[] = [];
  for (const modelId of PUBLIC_IDS) {
    if (routes[modelId] !== undefined) continue;
    const serving = wildcard?.upstreams.filter((name) => upstreams.get(name)?.models[modelId] !== undefined) ?? [];
    if (wildcard === null || serving.length === 0) unrouted.push(modelId);
    else routes[modelId] = { policy: wildcard.policy, upstreams: serving };
  }
  if (unrouted.length > 0) {
    throw reader.error(
      routesMap,
      `routes leaves ${unrouted.join(", ")} without an upstream; give each a route of its own, or add "${WILDCARD}" with upstreams whose models include them`,
    );
  }
  return { file, upstreams: [...upstreams.values()], routes };
}
