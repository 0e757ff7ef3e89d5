import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster } from "../helpers/cluster.ts";
import { call, MODEL, waitForTerminal } from "../helpers/test-server.ts";

let cluster: TestCluster;
beforeAll(async () => {
  cluster = await TestCluster.start();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

describe("two API and two worker processes", () => {
  it("run a task created on one API process, seen to success on the other", async () => {
    const { key } = await cluster.newAccount("smoke");
    const [first, second] = cluster.living("api").map((member) => member.baseUrl) as [string, string];
    const created = await call<{ taskId: string }>(first, "POST", "/api/v1/jobs/createTask", {
      key,
      body: { model: MODEL, input: { prompt: "a lighthouse" } },
    });
    expect(created.status).toBe(200);
    const { record } = await waitForTerminal(second, key, created.body.data.taskId);
    expect(record.state).toBe("success");
    const url = (JSON.parse(record.resultJson ?? "{}") as { resultUrls: string[] }).resultUrls[0] ?? "";
    const image = await fetch(url);
    expect(image.status).toBe(200);
    expect(image.headers.get("content-type")).toMatch(/^image\//);
  });
});
