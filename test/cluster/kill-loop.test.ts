import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TestCluster, type ClusterMember } from "../helpers/cluster.ts";
import { call, MODEL } from "../helpers/test-server.ts";
import { waitUntil } from "../helpers/wait.ts";

const PRICE = 4;
const CREDITS = 1_000_000;
/** How long clients send tasks while processes are killed. */
const CHAOS_MS = 15_000;

let cluster: TestCluster;
beforeAll(async () => {
  // Long enough that most kills of a worker land in the middle of generations.
  cluster = await TestCluster.start({ env: { SANDBOX_LATENCY_MS: "400", WORKER_CONCURRENCY: "8", TASK_TIMEOUT_MS: "120000" } });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

/** Sends tasks to random living API processes until `until`; answers the ids of those accepted. */
async function client(key: string, until: number, number: number): Promise<string[]> {
  const accepted: string[] = [];
  let sent = 0;
  while (Date.now() < until) {
    const apis = cluster.living("api");
    const target = apis[Math.floor(Math.random() * apis.length)];
    if (target === undefined) {
      await sleep(50);
      continue;
    }
    sent += 1;
    try {
      const answer = await call<{ taskId: string }>(target.baseUrl, "POST", "/api/v1/jobs/createTask", {
        key,
        body: { model: MODEL, input: { prompt: `client ${number} task ${sent}` } },
      });
      if (answer.status === 200) accepted.push(answer.body.data.taskId);
    } catch {
      // The process died under the request: not accepted as far as this client knows (it may
      // have been stored all the same; the checks below count every task in the database).
    }
  }
  return accepted;
}

/** Kills a random living process every second or so; each starts again a moment after it died. */
async function chaos(until: number): Promise<number> {
  let kills = 0;
  const restarts: Promise<void>[] = [];
  while (Date.now() < until) {
    await sleep(600 + Math.random() * 800);
    const living = cluster.members.filter((member) => member.alive);
    const victim = living[Math.floor(Math.random() * living.length)] as ClusterMember | undefined;
    if (victim === undefined) continue;
    await cluster.kill(victim);
    kills += 1;
    restarts.push(sleep(100 + Math.random() * 400).then(() => cluster.restart(victim)));
  }
  await Promise.all(restarts);
  return kills;
}

interface TaskRow {
  id: string;
  state: string;
  credits_held: number;
}

describe("kill -9 of random API and worker processes under load", () => {
  it("loses no task, settles each once, charges each once, and keeps the ledger balanced", async () => {
    const { key, accountId } = await cluster.newAccount("chaos", CREDITS);
    const until = Date.now() + CHAOS_MS;
    const [kills, ...accepted] = await Promise.all([chaos(until), ...[1, 2, 3, 4].map((number) => client(key, until, number))]);
    const acceptedIds = accepted.flat();
    expect(kills).toBeGreaterThan(5);
    expect(acceptedIds.length).toBeGreaterThan(20);

    // Every task the database holds settles: the ones answered and any stored by a process that
    // died before answering.
    await waitUntil(
      async () => {
        const { rows } = await cluster.sql.query<{ active: number }>(
          "SELECT count(*)::int AS active FROM tasks WHERE state IN ('waiting', 'queuing', 'generating')",
        );
        return rows[0]?.active === 0;
      },
      "every task to settle",
      90_000,
    );

    const { rows: tasks } = await cluster.sql.query<TaskRow>("SELECT id, state, credits_held FROM tasks WHERE account_id = $1", [accountId]);
    const byId = new Map(tasks.map((task) => [task.id, task]));
    // Zero lost: every accepted task is stored; it succeeded (a task fails only at its deadline).
    expect(acceptedIds.filter((id) => !byId.has(id))).toEqual([]);
    expect(tasks.filter((task) => task.state !== "success")).toEqual([]);

    // Charged once: each task has one hold and one capture, never a release beside it.
    const { rows: ledger } = await cluster.sql.query<{ task_id: string; kinds: string[] }>(
      "SELECT task_id, array_agg(kind ORDER BY kind) AS kinds FROM credit_ledger WHERE account_id = $1 AND task_id IS NOT NULL GROUP BY task_id",
      [accountId],
    );
    expect(ledger).toHaveLength(tasks.length);
    expect(ledger.filter((entry) => entry.kinds.join(",") !== "capture,hold")).toEqual([]);

    // Balanced: the balance is the grant less every captured price, and the ledger adds up to it.
    const { rows: account } = await cluster.sql.query<{ credits: number; active_tasks: number; ledger_sum: number }>(
      `SELECT credits::int, active_tasks, (SELECT sum(amount)::int FROM credit_ledger WHERE account_id = $1) AS ledger_sum
       FROM accounts WHERE id = $1`,
      [accountId],
    );
    const { rows: rerun } = await cluster.sql.query<{ count: number }>("SELECT count(*)::int AS count FROM tasks WHERE account_id = $1 AND attempts > 1", [accountId]);
    process.stdout.write(`kill loop: ${kills} kills, ${acceptedIds.length} accepted, ${tasks.length} stored, ${rerun[0]?.count} run more than once\n`);
    expect(account[0]).toEqual({ credits: CREDITS - PRICE * tasks.length, active_tasks: 0, ledger_sum: CREDITS - PRICE * tasks.length });
  }, 180_000);
});
