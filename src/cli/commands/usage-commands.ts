import type { Command } from "commander";
import { TASK_STATES } from "../../domain/tasks/task.ts";
import { accountIdOf, formatTable, formatTime, timeRange, wholeNumber, type CommandTools } from "./cli-support.ts";

const DEFAULT_AUDIT_ENTRIES = 100;
const MAX_AUDIT_ENTRIES = 1000;

export function registerUsageCommands(program: Command, { withAdmin, terminal }: CommandTools): void {
  program
    .command("usage")
    .description("tasks by state and credits spent, per UTC day and account (BY MODEL: tasks/credits per model)")
    .option("--account <name>", "only this account (name or id)")
    .option("--since <time>", "tasks created at or after: ISO-8601 or epoch ms")
    .option("--until <time>", "tasks created before: ISO-8601 or epoch ms")
    .option("--json", "print JSON")
    .action(async (options: { account?: string; since?: string; until?: string; json?: boolean }) => {
      const range = timeRange(options);
      await withAdmin(async (session) => {
        const accountId = await accountIdOf(session, options.account);
        const rows = await session.reports.usage({ ...range, ...(accountId === undefined ? {} : { accountId }) });
        if (options.json) {
          terminal.out(JSON.stringify(rows));
          return;
        }
        if (rows.length === 0) {
          terminal.out("no tasks in this period");
          return;
        }
        const header = ["DAY", "ACCOUNT", ...TASK_STATES.map((state) => state.toUpperCase()), "CREDITS", "BY MODEL"];
        const cells = rows.map((row) => [
          row.day,
          row.accountName,
          ...TASK_STATES.map((state) => String(row.tasks[state])),
          String(row.creditsSpent),
          Object.entries(row.models)
            .map(([model, spent]) => `${model} ${spent.tasks}/${spent.creditsSpent}`)
            .join(", "),
        ]);
        const numeric = header.map((_title, column) => column).filter((column) => column >= 2 && column < header.length - 1);
        for (const line of formatTable(header, cells, numeric)) terminal.out(line);
      });
    });

  program
    .command("audit")
    .description("the audit trail of administrative changes (CLI and admin API), newest first")
    .option("--limit <count>", `at most this many entries, 1 to ${MAX_AUDIT_ENTRIES} (default ${DEFAULT_AUDIT_ENTRIES})`)
    .option("--json", "print JSON")
    .action(async (options: { limit?: string; json?: boolean }) => {
      const limit = options.limit === undefined ? DEFAULT_AUDIT_ENTRIES : wholeNumber("--limit", options.limit, 1, MAX_AUDIT_ENTRIES);
      await withAdmin(async ({ accounts }) => {
        const entries = await accounts.listAudit(limit);
        if (options.json) {
          terminal.out(JSON.stringify(entries));
          return;
        }
        const rows = entries.map((entry) => [formatTime(entry.at), entry.actor, entry.action, entry.target, JSON.stringify(entry.details)]);
        for (const line of formatTable(["AT", "ACTOR", "ACTION", "TARGET", "DETAILS"], rows)) terminal.out(line);
      });
    });
}
