import { performance } from "node:perf_hooks";
import path from "node:path";
import { parseArgs } from "node:util";
import { REPOSITORY_ROOT } from "./imagegate-process.ts";
import {
  baseEnvironment,
  freePort,
  ManagedProcess,
  removeDirectory,
  sleep,
  stopAllProcesses,
  temporaryDirectory,
} from "./processes.ts";
import { distribution } from "./statistics.ts";

const USAGE = `usage: npm run bench:startup -- [--runs N] [--root DIR]

  Times \`imagegate --help\` (start to exit) and \`imagegate serve\` (start to the first 200 from
  GET /readyz, on a data directory that an unmeasured first start created), each N times after
  one unmeasured run, and prints the median and p90.

  --runs  how many measured runs of each (default 10)
  --root  the checkout whose bin/imagegate.js runs (default this one), e.g. another commit's worktree
`;

const READY_TIMEOUT_MS = 60_000;
const POLL_INTERVAL_MS = 2;

function parseOptions(): { runs: number; root: string } {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "10" },
      root: { type: "string", default: REPOSITORY_ROOT },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) {
    process.stderr.write(`bench: --runs must be a whole number from 1, got "${values.runs}"\n${USAGE}`);
    process.exit(2);
  }
  return { runs, root: path.resolve(values.root) };
}

function imagegate(root: string, commandArguments: readonly string[], environment: Record<string, string>): ManagedProcess {
  return new ManagedProcess({
    name: "imagegate",
    command: process.execPath,
    arguments: [path.join(root, "bin", "imagegate.js"), ...commandArguments],
    cwd: root,
    environment: { ...baseEnvironment(), ...environment },
  });
}

/** Milliseconds from spawning `imagegate --help` to its exit. */
async function timeHelp(root: string): Promise<number> {
  const started = performance.now();
  const code = await imagegate(root, ["--help"], {}).exited;
  const elapsed = performance.now() - started;
  if (code !== 0) throw new Error(`imagegate --help exited with ${String(code)}`);
  return elapsed;
}

/** Milliseconds from spawning `imagegate serve` to the first 200 from GET /readyz; then stops it. */
async function timeReady(root: string, dataDir: string): Promise<number> {
  const port = await freePort();
  const started = performance.now();
  const server = imagegate(root, ["serve"], {
    PORT: String(port),
    HOST: "127.0.0.1",
    PUBLIC_BASE_URL: `http://127.0.0.1:${port}`,
    DATA_DIR: dataDir,
    LOG_LEVEL: "warn",
  });
  try {
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (response) => response.status,
        () => null,
      );
      if (status === 200) return performance.now() - started;
      if (!server.isRunning) throw new Error(`imagegate serve exited before it was ready:\n${server.tail()}`);
      if (performance.now() - started > READY_TIMEOUT_MS) throw new Error(`imagegate serve not ready within ${READY_TIMEOUT_MS} ms`);
      await sleep(POLL_INTERVAL_MS);
    }
  } finally {
    await server.stop();
  }
}

async function measure(runs: number, once: () => Promise<number>): Promise<string> {
  await once();
  const times: number[] = [];
  for (let run = 0; run < runs; run += 1) times.push(await once());
  const { p50, p90 } = distribution(times);
  return `median ${p50.toFixed(0)} ms, p90 ${p90.toFixed(0)} ms (${runs} runs)`;
}

async function main(): Promise<void> {
  const { runs, root } = parseOptions();
  const dataDir = await temporaryDirectory("startup");
  try {
    process.stdout.write(`imagegate at ${root}, node ${process.version}\n`);
    process.stdout.write(`imagegate --help:               ${await measure(runs, () => timeHelp(root))}\n`);
    process.stdout.write(`serve to first 200 from /readyz: ${await measure(runs, () => timeReady(root, dataDir))}\n`);
  } finally {
    await stopAllProcesses();
    await removeDirectory(dataDir);
  }
}

await main();
