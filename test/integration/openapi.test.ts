import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { Catalog } from "../../src/domain/catalog/catalog.ts";
import openapiTS, { astToString, type OpenAPI3 } from "openapi-typescript";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL, startTestServer, waitForTerminal, type TestServer } from "../helpers/test-server.ts";

interface MediaType {
  schema?: { type?: string; format?: string };
  example?: Record<string, unknown>;
}
interface Response {
  description: string;
  content?: Record<string, MediaType>;
}
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: { type?: string; minLength?: number; maxLength?: number; pattern?: string };
  description?: string;
}
interface Operation {
  operationId?: string;
  parameters?: Parameter[];
  requestBody?: { content: Record<string, MediaType> };
  responses: Record<string, Response>;
}
interface Document {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, Operation>>;
}

const PUBLIC_OPERATIONS = [
  "createTask", "recordInfo", "cancelTask", "streamInfo", "getCredit", "getDownloadUrl", "getFile",
  "getHealth", "getReadiness", "getMetrics", "listModels",
  "listJobs", "listTaskCallbacks", "redeliverTaskCallback", "listKeys", "createKey", "revokeKey",
  "getWebhookSecret", "rotateWebhookSecret", "getUsage", "listLedger",
];
const PROJECT_ROOT = path.resolve(import.meta.dirname, "../..");

let harness: TestServer;
let document: Document;

beforeAll(async () => {
  harness = await startTestServer();
  const response = await fetch(`${harness.baseUrl}/openapi.json`);
  expect(response.status).toBe(200);
  document = (await response.json()) as Document;
});
afterAll(async () => {
  await harness.close();
});

function operations(): { method: string; path: string; operation: Operation }[] {
  return Object.entries(document.paths).flatMap(([route, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ method, path: route, operation })),
  );
}

function operation(method: string, route: string): Operation {
  const found = document.paths[route]?.[method];
  if (found === undefined) throw new Error(`${method} ${route} is not in the document`);
  return found;
}

function contentTypes(response: Response | undefined): string[] {
  return Object.keys(response?.content ?? {});
}

describe("/openapi.json", () => {
  it("is a valid OpenAPI 3.1 document", async () => {
    const validator = new Validator();
    const result = await validator.validate(document as unknown as Record<string, unknown>);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("gives every operation a unique camelCase operationId", () => {
    const missing = operations().filter(({ operation: described }) => described.operationId === undefined);
    expect(missing.map(({ method, path: route }) => `${method} ${route}`)).toEqual([]);
    const ids = operations().map(({ operation: described }) => described.operationId ?? "");
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z][A-Za-z0-9]*$/);
    expect(ids).toEqual(expect.arrayContaining(PUBLIC_OPERATIONS));
    expect(operation("post", "/api/v1/jobs/createTask").operationId).toBe("createTask");
    expect(operation("get", "/api/v1/jobs/recordInfo").operationId).toBe("recordInfo");
    const admin = operations().filter(({ path: route }) => route.startsWith("/admin/v1/"));
    expect(admin.length).toBeGreaterThan(15);
    for (const { operation: described } of admin) expect(described.operationId).toMatch(/^admin[A-Z]/);
    expect(operation("post", "/admin/v1/accounts").operationId).toBe("adminCreateAccount");
  });

  it("gives every operation a success response with a schema", () => {
    for (const { method, path: route, operation: described } of operations()) {
      const success = Object.entries(described.responses).find(([status]) => status.startsWith("2"));
      const media = Object.values(success?.[1].content ?? {});
      expect(media.length, `${method} ${route}`).toBeGreaterThan(0);
      for (const type of media) expect(type.schema, `${method} ${route}`).toBeDefined();
    }
  });

  it("gives every JSON error answer an example envelope with its own status", () => {
    const wrong: string[] = [];
    for (const [route, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          const json = response.content?.["application/json"];
          if (Number(status) < 400 || json === undefined) continue;
          const example = json.example as { code?: unknown; msg?: unknown; data?: unknown } | undefined;
          if (example?.code !== Number(status) || typeof example.msg !== "string" || example.data !== null) {
            wrong.push(`${method.toUpperCase()} ${route} ${status}`);
          }
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it("lists the page's own origin as the first server, then PUBLIC_BASE_URL", () => {
    expect(document.servers.map((server) => server.url)).toEqual(["/", harness.baseUrl]);
  });

  it("documents streamInfo's events as text/event-stream and its errors as JSON", () => {
    const responses = operation("get", "/api/v1/jobs/streamInfo").responses;
    expect(contentTypes(responses[200])).toEqual(["text/event-stream"]);
    const events = responses[200]?.content?.["text/event-stream"]?.schema as { type: string; description: string };
    expect(events.type).toBe("string");
    expect(events.description).toContain("event: state");
    expect(events.description).toContain(": heartbeat");
    for (const status of ["400", "401", "404", "429"]) expect(contentTypes(responses[status])).toEqual(["application/json"]);
  });

  it("documents createTask's Idempotency-Key header and the 409 and 422 it can cause", () => {
    const createTask = operation("post", "/api/v1/jobs/createTask");
    const header = createTask.parameters?.find((parameter) => parameter.in === "header" && parameter.name === "Idempotency-Key");
    expect(header?.required).toBe(false);
    expect(header?.schema).toMatchObject({ type: "string", minLength: 1, maxLength: 255 });
    expect(header?.description).toContain("24 hours");
    expect(createTask.responses[409]?.description).toContain("Idempotency-Key");
    expect(createTask.responses[422]?.description).toContain("Idempotency-Key");
  });

  it("gives createTask an example body that sends no callback", () => {
    const body = operation("post", "/api/v1/jobs/createTask").requestBody?.content["application/json"];
    expect(body?.example).toMatchObject({ model: MODEL, input: { prompt: expect.any(String) } });
    expect(body?.example).not.toHaveProperty("callBackUrl");
    expect(JSON.stringify(body?.schema)).toContain("callBackUrl");
  });

  it("describes createTask's body with one schema per model, told apart by model", () => {
    const schema = operation("post", "/api/v1/jobs/createTask").requestBody?.content["application/json"]?.schema as {
      oneOf: { title: string; properties: { model: { enum: string[] }; input: { properties: Record<string, unknown> } } }[];
    };
    const ids = new Catalog().list().map((model) => model.id);
    expect(schema.oneOf.map((branch) => branch.properties.model.enum[0])).toEqual(ids);
    const inputOf = (id: string) => schema.oneOf.find((branch) => branch.title === id)?.properties.input.properties ?? {};
    expect(Object.keys(inputOf("nano-banana-pro"))).toEqual(["prompt", "aspect_ratio", "image_input", "image_urls", "resolution", "output_format", "nsfw_checker"]);
    expect(Object.keys(inputOf("nano-banana-2"))).toContain("google_search");
    expect(Object.keys(inputOf(MODEL))).toEqual(["prompt", "image_size", "aspect_ratio", "output_format", "nsfw_checker"]);
  });

  it("documents the account's paged lists with their filters, and every account route's errors", () => {
    const listJobs = operation("get", "/api/v1/jobs");
    const parameters = listJobs.parameters?.map((parameter) => `${parameter.in} ${parameter.name}`);
    expect(parameters?.sort()).toEqual(["query cursor", "query limit", "query model", "query state"]);
    expect(listJobs.parameters?.find((parameter) => parameter.name === "limit")?.schema).toMatchObject({ type: "integer", minimum: 1, maximum: 100 });
    for (const route of ["/api/v1/jobs", "/api/v1/ledger"]) {
      const data = (operation("get", route).responses[200]?.content?.["application/json"]?.schema as { properties: { data: { required: string[] } } })
        .properties.data;
      expect(data.required).toEqual(["items", "nextCursor"]);
    }
    const item = (listJobs.responses[200]?.content?.["application/json"]?.schema as {
      properties: { data: { properties: { items: { items: { required: string[] } } } } };
    }).properties.data.properties.items.items;
    expect([...item.required].sort()).toEqual(
      ["completeTime", "costTime", "createTime", "creditsConsumed", "failCode", "failMsg", "model", "param", "resultJson", "state", "taskId", "updateTime"],
    );
    const accountRoutes: Array<[string, string, string[]]> = [
      ["get", "/api/v1/jobs", ["200", "400", "401", "422", "429"]],
      ["get", "/api/v1/jobs/callbacks", ["200", "400", "401", "404", "429"]],
      ["post", "/api/v1/jobs/callbacks/redeliver", ["200", "400", "401", "404", "409", "422", "429"]],
      ["get", "/api/v1/keys", ["200", "401", "429"]],
      ["post", "/api/v1/keys", ["200", "400", "401", "403", "409", "422", "429"]],
      ["post", "/api/v1/keys/{keyId}/revoke", ["200", "401", "403", "404", "429"]],
      ["get", "/api/v1/webhook-secret", ["200", "401", "403", "429"]],
      ["post", "/api/v1/webhook-secret/rotate", ["200", "401", "403", "429"]],
      ["get", "/api/v1/usage", ["200", "400", "401", "422", "429"]],
      ["get", "/api/v1/ledger", ["200", "400", "401", "422", "429"]],
    ];
    for (const [method, route, statuses] of accountRoutes) {
      expect(Object.keys(operation(method, route).responses).sort(), `${method} ${route}`).toEqual(statuses);
    }
    expect(operation("post", "/api/v1/keys").responses[403]?.content?.["application/json"]?.example).toEqual({
      code: 403,
      msg: "A test-mode key cannot make keys: use a live key (ig_live_...).",
      data: null,
    });
  });

  it("documents result files at /files/{day}/{file} with their signed query and image answers", () => {
    expect(Object.keys(document.paths).filter((route) => route.includes("*"))).toEqual([]);
    const files = operation("get", "/files/{day}/{file}");
    const parameters = files.parameters?.map((parameter) => `${parameter.in} ${parameter.name} ${String(parameter.required)}`);
    expect(parameters?.sort()).toEqual(["path day true", "path file true", "query expires true", "query signature true"]);
    for (const status of ["200", "206"]) {
      expect(contentTypes(files.responses[status])).toEqual(["image/png", "image/jpeg"]);
      expect(files.responses[status]?.content?.["image/png"]?.schema).toEqual({ type: "string", format: "binary" });
    }
    expect(contentTypes(files.responses[304])).toEqual([]);
    for (const status of ["403", "404", "416"]) expect(contentTypes(files.responses[status])).toEqual(["application/json"]);
  });
});

const CLIENT_SOURCE = `
import createClient from "openapi-fetch";
import type { operations, paths } from "./imagegate.ts";

type CreateTaskAnswer = operations["createTask"]["responses"][200]["content"]["application/json"];
type TaskRecord = operations["recordInfo"]["responses"][200]["content"]["application/json"]["data"];
type Events = operations["streamInfo"]["responses"][200]["content"]["text/event-stream"];

export async function createAndRead(baseUrl: string, key: string, model: "${MODEL}"): Promise<{ taskId: string; state: TaskRecord["state"] }> {
  const client = createClient<paths>({ baseUrl, headers: { Authorization: "Bearer " + key } });
  const created = await client.POST("/api/v1/jobs/createTask", {
    params: { header: { "Idempotency-Key": "generated-client-1" } },
    body: { model, input: { prompt: "A lighthouse at dusk", image_size: "16:9" } },
  });
  if (created.data === undefined) throw new Error("createTask answered " + created.error.msg);
  const answer: CreateTaskAnswer = created.data;
  const taskId: string = answer.data.taskId;
  const record = await client.GET("/api/v1/jobs/recordInfo", { params: { query: { taskId } } });
  if (record.data === undefined) throw new Error("recordInfo answered " + record.error.msg);
  const pro = await client.POST("/api/v1/jobs/createTask", {
    body: { model: "nano-banana-pro", input: { prompt: "A lighthouse at dusk", aspect_ratio: "16:9", resolution: "2K", output_format: "jpg" } },
  });
  if (pro.data === undefined) throw new Error("createTask answered " + pro.error.msg);
  const events: Events = "";
  const jobs = await client.GET("/api/v1/jobs", { params: { query: { model: "${MODEL}", limit: 5 } } });
  if (jobs.data === undefined) throw new Error("listJobs answered " + jobs.error.msg);
  const nextCursor: string | null = jobs.data.data.nextCursor;
  const listed: TaskRecord | undefined = jobs.data.data.items.find((item) => item.taskId === taskId);
  if (listed === undefined || nextCursor === undefined) throw new Error("listJobs did not list " + taskId);
  return { taskId: record.data.data.taskId + events, state: record.data.data.state };
}
`;

describe("a client generated from /openapi.json", () => {
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(path.join(os.tmpdir(), "imagegate-client-"));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it("type-checks calls of createTask, recordInfo and listJobs, and runs them against the server", async () => {
    const types = astToString(await openapiTS(document as unknown as OpenAPI3));
    await writeFile(path.join(directory, "imagegate.ts"), types);
    await writeFile(path.join(directory, "client.ts"), CLIENT_SOURCE);
    await symlink(path.join(PROJECT_ROOT, "node_modules"), path.join(directory, "node_modules"), "dir");

    const program = ts.createProgram([path.join(directory, "client.ts")], {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ["lib.es2023.d.ts", "lib.dom.d.ts"],
      types: [],
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      allowImportingTsExtensions: true,
    });
    const problems = ts.getPreEmitDiagnostics(program).map((diagnostic) => ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n"));
    expect(problems).toEqual([]);

    const client = (await import(path.join(directory, "client.ts"))) as {
      createAndRead(baseUrl: string, key: string, model: string): Promise<{ taskId: string; state: string }>;
    };
    const result = await client.createAndRead(harness.baseUrl, harness.key, MODEL);
    expect(result.taskId).toMatch(/^task_[0-9a-z]{26}$/);
    expect(["waiting", "queuing", "generating", "success"]).toContain(result.state);
    expect((await waitForTerminal(harness.baseUrl, harness.key, result.taskId)).record.state).toBe("success");
  });
});
