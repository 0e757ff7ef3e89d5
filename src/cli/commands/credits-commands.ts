import type { Command } from "commander";
import { unwrap, wholeNumber, type CommandTools } from "./cli-support.ts";

const MAX_CREDIT_CHANGE = 1_000_000_000;

export function registerCreditsCommands(program: Command, { withAdmin, terminal }: CommandTools): void {
  const credits = program.command("credits").description("grant or deduct an account's credits (written to its ledger)");
  for (const kind of ["grant", "deduct"] as const) {
    credits
      .command(kind)
      .description(kind === "grant" ? "add credits to an account" : "take credits from an account; refused below zero")
      .argument("<account>", "account name or id")
      .argument("<amount>", `a whole number from 1 to ${MAX_CREDIT_CHANGE}`)
      .requiredOption("--reason <text>", "why: kept in the ledger and the audit trail")
      .option("--json", 'print {"accountId":...,"account":...,"amount":...,"balance":...}')
      .action(async (nameOrId: string, amountText: string, options: { reason: string; json?: boolean }) => {
        const amount = wholeNumber("AMOUNT", amountText, 1, MAX_CREDIT_CHANGE);
        await withAdmin(async ({ accounts }) => {
          const account = unwrap(await accounts.requireAccount(nameOrId));
          const balance = unwrap(
            kind === "grant"
              ? await accounts.grantCredits(account.id, amount, options.reason, "cli")
              : await accounts.deductCredits(account.id, amount, options.reason, "cli"),
          );
          if (options.json) terminal.out(JSON.stringify({ accountId: account.id, account: account.name, amount, balance }));
          else if (kind === "grant") terminal.out(`granted ${amount} credits to ${account.name}; balance ${balance}`);
          else terminal.out(`deducted ${amount} credits from ${account.name}; balance ${balance}`);
        });
      });
  }
}
