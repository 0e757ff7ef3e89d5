import { REPOSITORY_ROOT } from "./imagegate-process.ts";
import { baseEnvironment, ManagedProcess } from "./processes.ts";

/**
 * The fake Gemini server of test/fakes in a process of its own, so that answering thousands of
 * upstream calls shares an event loop with neither the server nor the load generator.
 */
export class FakeUpstreamProcess {
  private constructor(
    readonly process: ManagedProcess,
    readonly url: string,
  ) {}

  static async start(latencyMs: number): Promise<FakeUpstreamProcess> {
    const child = new ManagedProcess({
      name: "fake-gemini",
      command: process.execPath,
      arguments: ["--import", "tsx", "test/fakes/fake-gemini-cli.ts", "--port", "0", "--latency-ms", String(latencyMs)],
      cwd: REPOSITORY_ROOT,
      environment: baseEnvironment(),
    });
    try {
      const printed = await child.waitForLine(/^(http:\/\/127\.0\.0\.1:\d+)$/, 30_000);
      return new FakeUpstreamProcess(child, printed[1] ?? "");
    } catch (error) {
      await child.stop();
      throw error;
    }
  }

  async stop(): Promise<void> {
    await this.process.stop();
  }
}
