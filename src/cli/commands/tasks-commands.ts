import { Option, type Command } from "commander";
import { adminTaskView, type AdminTaskView } from "../../views/operator-views.ts";
import type { TaskFilter } from "../../domain/tasks/reports.ts";
import { TASK_STATES, type TaskState } from "../../domain/tasks/task.ts";
import { accountIdOf, CliFailure, formatTable, formatTime, timeRange, wholeNumber, type CommandTools } from "./cli-support.ts";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;

interface ListOptions {
  account?: string;
  state?: TaskState;
  since?: string;
  until?: string;
  limit?: string;
  json?: boolean;
}

function seconds(ms: number | null): string {
  return ms === null ? "-" : `${(ms / 1000).toFixed(1)}s`;
}

function printTask(view: AdminTaskView, out: (line: string) => void): void {
  const lines: [string, string][] = [
    ["task", view.taskId],
    ["account", `${view.accountName ?? "?"} (${view.accountId})`],
    ["key", `${view.apiKeyId ?? "-"} (${view.mode})`],
    ["model", view.model],
    ["state", view.state],
    ["created", formatTime(view.createTime)],
    ["updated", formatTime(view.updateTime)],
    ["completed", view.completeTime === null ? "-" : `${formatTime(view.completeTime)} (${seconds(view.costTime)})`],
    ["deadline", formatTime(view.deadlineTime)],
    ["attempts", String(view.attempts)],
    ["upstream", String(view.upstreamAttempts)],
    ["credits", creditsLine(view.state, view.creditsConsumed, view.creditsHeld)],
    ["param", view.param],
  ];
  if (view.callBackUrl !== null) lines.push(["callback", view.callBackUrl]);
  if (view.resultJson !== null) lines.push(["result", view.resultJson]);
  if (view.failCode !== null) lines.push(["failure", `${view.failCode}: ${view.failMsg ?? ""}`]);
  for (const [label, value] of lines) out(`${label.padEnd(10)}${value}`);
}

export function registerTasksCommands(program: Command, { withAdmin, terminal }: CommandTools): void {
  const tasks = program.command("tasks").description("look at tasks of every account");
  tasks
    .command("list")
    .description("list tasks, newest first")
    .option("--account <name>", "only this account's tasks (name or id)")
    .addOption(new Option("--state <state>", "only tasks in this state").choices(TASK_STATES))
    .option("--since <time>", "created at or after: ISO-8601 or epoch ms")
    .option("--until <time>", "created before: ISO-8601 or epoch ms")
    .option("--limit <count>", `at most this many, 1 to ${MAX_LIMIT} (default ${DEFAULT_LIMIT})`)
    .option("--json", "print JSON")
    .action(async (options: ListOptions) => {
      const limit = options.limit === undefined ? DEFAULT_LIMIT : wholeNumber("--limit", options.limit, 1, MAX_LIMIT);
      const range = timeRange(options);
      await withAdmin(async (session) => {
        const accountId = await accountIdOf(session, options.account);
        const filter: TaskFilter = {
          limit,
          ...range,
          ...(accountId === undefined ? {} : { accountId }),
          ...(options.state === undefined ? {} : { state: options.state }),
        };
        const names = new Map((await session.accounts.listAccounts()).map((account) => [account.id, account.name]));
        const views = (await session.reports.listTasks(filter)).map((task) => adminTaskView(task, names.get(task.accountId) ?? null));
        if (options.json) {
          terminal.out(JSON.stringify(views));
          return;
        }
        if (views.length === 0) {
          terminal.out("no tasks match");
          return;
        }
        const rows = views.map((view) => [
          view.taskId,
          view.state,
          view.accountName ?? view.accountId,
          view.model,
          formatTime(view.createTime),
          seconds(view.costTime),
        ]);
        for (const line of formatTable(["TASK", "STATE", "ACCOUNT", "MODEL", "CREATED", "TOOK"], rows, [5])) terminal.out(line);
      });
    });

  tasks
    .command("show")
    .description("show one task of any account")
    .argument("<taskId>", "the task's id (task_...)")
    .option("--json", "print JSON")
    .action(async (taskId: string, options: { json?: boolean }) =>
      withAdmin(async (session) => {
        const task = await session.tasks.getById(taskId);
        if (task === null) throw new CliFailure(`no task with taskId ${taskId}`);
        const account = await session.accounts.findAccount(task.accountId);
        const view = adminTaskView(task, account?.name ?? null);
        if (options.json) terminal.out(JSON.stringify(view));
        else printTask(view, (line) => terminal.out(line));
      }),
    );
}

/** What a task cost: charged on success; held while it runs; the hold released when it failed. */
function creditsLine(state: string, consumed: number, held: number): string {
  if (state === "success") return `${consumed} charged`;
  if (state === "fail") return held === 0 ? "0 charged" : `0 charged (the ${held} held were released)`;
  return `0 charged (${held} held)`;
}
