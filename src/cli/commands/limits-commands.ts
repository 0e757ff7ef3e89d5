import type { Command } from "commander";
import type { AccountLimits } from "../../domain/accounts/account.ts";
import { parseRatePolicy } from "../../domain/limits/rate-policy.ts";
import { describeLimits } from "./accounts-commands.ts";
import { CliFailure, unwrap, wholeNumber, type CommandTools } from "./cli-support.ts";

const DEFAULT = "default";
const MAX_ACTIVE_TASKS = 1_000_000;

interface LimitOptions {
  activeTasks?: string;
  createTask?: string;
  other?: string;
  json?: boolean;
}

function rate(option: string, text: string): string | null {
  if (text === DEFAULT) return null;
  if (parseRatePolicy(text) === null) {
    throw new CliFailure(`${option} must be a rate such as 20/10s (a count per window in s, m or h) or "${DEFAULT}", got "${text}"`);
  }
  return text;
}

/** Only the options given; `default` becomes null: the server's default applies again. */
function limitsFrom(options: LimitOptions): Partial<AccountLimits> {
  const limits: Partial<AccountLimits> = {};
  if (options.activeTasks !== undefined) {
    limits.activeTasks =
      options.activeTasks === DEFAULT ? null : wholeNumber("--active-tasks", options.activeTasks, 1, MAX_ACTIVE_TASKS);
  }
  if (options.createTask !== undefined) limits.createTask = rate("--create-task", options.createTask);
  if (options.other !== undefined) limits.other = rate("--other", options.other);
  if (Object.keys(limits).length === 0) throw new CliFailure("give at least one of --active-tasks, --create-task, --other");
  return limits;
}

export function registerLimitsCommands(program: Command, { withAdmin, terminal }: CommandTools): void {
  const limits = program.command("limits").description("per-account limits");
  limits
    .command("set")
    .description(`set an account's limits; "${DEFAULT}" puts one back to the server's default`)
    .argument("<account>", "account name or id")
    .option("--active-tasks <count>", `most non-terminal tasks at once, or ${DEFAULT}`)
    .option("--create-task <rate>", `createTask rate per key such as 20/10s, or ${DEFAULT}`)
    .option("--other <rate>", `rate of every other route per key such as 10/1s, or ${DEFAULT}`)
    .option("--json", "print the account as JSON")
    .action(async (nameOrId: string, options: LimitOptions) => {
      const changes = limitsFrom(options);
      await withAdmin(async ({ accounts }) => {
        const account = unwrap(await accounts.setLimits(nameOrId, changes, "cli"));
        terminal.out(options.json ? JSON.stringify(account) : `limits of ${account.name}: ${describeLimits(account.limits)}`);
      });
    });
}
