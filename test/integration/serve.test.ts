import { spawn } from "node:child_process";
import { connect, createServer } from "node:net";
import path from "node:path";
import { rm } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { REPOSITORY_ROOT, startServerProcess } from "../helpers/server-process.ts";
import { freePort, startTestServer, temporaryDirectory } from "../helpers/test-server.ts";

function runServe(env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPOSITORY_ROOT, "bin/imagegate.js"), "serve"], {
      cwd: REPOSITORY_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", LOG_LEVEL: "silent", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("imagegate serve", () => {
  it("says plainly when its port is taken, and keeps the demo key for the first start that works", async () => {
    const dataDir = await temporaryDirectory();
    const port = await freePort();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, "127.0.0.1", resolve));
    try {
      const failed = await runServe({ DATA_DIR: dataDir, PORT: String(port), HOST: "127.0.0.1" });
      expect(failed.code).toBe(2);
      expect(failed.stderr.trim()).toBe(
        `imagegate: cannot listen on 127.0.0.1:${port} (the port is in use); set PORT (and HOST) to another address`,
      );
      expect(failed.stdout).not.toMatch(/ig_live_/);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
    const working = await startServerProcess({ DATA_DIR: dataDir }, port);
    try {
      expect(working.output()).toMatch(/Created account 'demo' with this API key/);
      expect(working.output()).toMatch(/ig_live_[A-Za-z0-9_-]{32}/);
      // Where state and files live, as configured.
      expect(working.output()).toContain(`database: SQLite in ${dataDir}`);
      expect(working.output()).toContain(`files: ${path.join(dataDir, "results")}`);
    } finally {
      working.child.kill("SIGKILL");
      await working.exited;
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 30_000);

  it("stops at once with a message naming an invalid variable", async () => {
    const run = await runServe({ PORT: "eighty", DATA_DIR: "/tmp/imagegate-never-created" });
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe('imagegate: invalid configuration: PORT must be a whole number from 0 to 65535, got "eighty"');
  });

  it("finishes shutting down within the grace period even when a client never completes its request", async () => {
    const harness = await startTestServer({ SHUTDOWN_GRACE_MS: "300" });
    const url = new URL(harness.baseUrl);
    const socket = connect(Number(url.port), url.hostname);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    // Headers begun and never finished: the connection is busy, not idle, until the server cuts it.
    socket.write("GET /healthz HTTP/1.1\r\nHost: imagegate\r\n");
    socket.on("error", () => undefined);
    const started = Date.now();
    await harness.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    socket.destroy();
  });
});
