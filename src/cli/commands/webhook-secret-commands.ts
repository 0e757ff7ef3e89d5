import type { Command } from "commander";
import type { WebhookSecretView } from "../../views/callback-views.ts";
import { unwrap, type CommandTools } from "./cli-support.ts";

/** `accounts webhook-secret`: registered after the accounts commands, into their group. */
export function registerWebhookSecretCommand(program: Command, { withAdmin, terminal }: CommandTools): void {
  const accounts = program.commands.find((command) => command.name() === "accounts");
  if (accounts === undefined) throw new Error("the accounts commands must be registered before webhook-secret");
  accounts
    .command("webhook-secret")
    .description("print the account's webhook secret (made now if it has none); --rotate replaces it")
    .argument("<account>", "account name or id")
    .option("--rotate", "replace the secret: callbacks are signed with the new one only from now on")
    .option("--json", 'print {"accountId":...,"account":...,"secret":...}')
    .action(async (nameOrId: string, options: { rotate?: boolean; json?: boolean }) =>
      withAdmin(async ({ accounts: service }) => {
        const account = unwrap(await service.requireAccount(nameOrId));
        const rotate = options.rotate === true;
        const secret = unwrap(await service.webhookSecret(account.id, { rotate, actor: "cli" }));
        if (options.json) {
          terminal.out(JSON.stringify({ accountId: account.id, account: account.name, secret } satisfies WebhookSecretView));
          return;
        }
        if (rotate) terminal.out(`rotated the webhook secret of ${account.name}; callbacks are signed with this one from now on:`);
        terminal.out(secret);
      }),
    );
}
