import type { Command } from "commander";
import type { AccountLimits } from "../../domain/accounts/account.ts";
import { keyView, ledgerView } from "../../views/operator-views.ts";
import { formatTime, unwrap, type CommandTools } from "./cli-support.ts";

const RECENT_LEDGER_ENTRIES = 20;

export function describeLimits(limits: AccountLimits): string {
  return `active tasks ${limits.activeTasks ?? "default"}, createTask ${limits.createTask ?? "default"}, other ${limits.other ?? "default"}`;
}

function signed(amount: number): string {
  return amount > 0 ? `+${amount}` : String(amount);
}

export function registerAccountsCommands(program: Command, { withAdmin, terminal }: CommandTools): void {
  const accounts = program.command("accounts").description("manage accounts");
  accounts
    .command("create")
    .description("create an account")
    .requiredOption("--name <name>", "account name")
    .option("--json", "print JSON")
    .action(async (options: { name: string; json?: boolean }) =>
      withAdmin(async ({ accounts: service }) => {
        const account = unwrap(await service.createAccount(options.name, "cli"));
        terminal.out(options.json ? JSON.stringify(account) : `created account ${account.name} (${account.id})`);
      }),
    );

  accounts
    .command("list")
    .description("list accounts with their balances")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }) =>
      withAdmin(async ({ accounts: service }) => {
        const list = await service.listAccounts();
        if (options.json) terminal.out(JSON.stringify(list));
        else for (const account of list) terminal.out(`${account.id}  ${account.name}  ${formatTime(account.createdAt)}  ${account.credits} credits`);
      }),
    );

  accounts
    .command("show")
    .description("show an account: balance, limits, keys and recent ledger entries")
    .argument("<account>", "account name or id")
    .option("--json", "print JSON")
    .action(async (nameOrId: string, options: { json?: boolean }) =>
      withAdmin(async ({ accounts: service }) => {
        const account = unwrap(await service.requireAccount(nameOrId));
        const keys = (await service.listKeys(account.id)).map(keyView);
        const ledger = unwrap(await service.ledger(account.id, RECENT_LEDGER_ENTRIES)).map(ledgerView);
        if (options.json) {
          terminal.out(JSON.stringify({ ...account, keys, ledger }));
          return;
        }
        terminal.out(`account  ${account.name} (${account.id})`);
        terminal.out(`created  ${formatTime(account.createdAt)}`);
        terminal.out(`balance  ${account.credits} credits`);
        terminal.out(`limits   ${describeLimits(account.limits)}`);
        terminal.out(`keys (${keys.length}):`);
        for (const key of keys) {
          terminal.out(`  ${key.id}  ${key.hint}  ${key.mode}  ${key.revokedAt === null ? "active" : `revoked ${formatTime(key.revokedAt)}`}`);
        }
        terminal.out(`ledger (newest ${RECENT_LEDGER_ENTRIES}):`);
        for (const entry of ledger) {
          const by = entry.actor === null ? "" : `  by ${entry.actor}`;
          const why = entry.reason === null ? "" : `: ${entry.reason}`;
          const task = entry.taskId === null ? "" : `  ${entry.taskId}`;
          terminal.out(`  ${formatTime(entry.createdAt)}  ${entry.kind}  ${signed(entry.amount)}  balance ${entry.balanceAfter}${task}${by}${why}`);
        }
      }),
    );
}
