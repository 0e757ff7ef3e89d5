import type { Command } from "commander";
import { keyView } from "../../views/operator-views.ts";
import { accountIdOf, formatTime, unwrap, type CommandTools } from "./cli-support.ts";

export function registerKeysCommands(program: Command, { withAdmin, terminal }: CommandTools): void {
  const keys = program.command("keys").description("manage API keys");
  keys
    .command("create")
    .description("create an API key for an account; the key is printed once")
    .requiredOption("--account <name>", "account name or id")
    .option("--test", "a test-mode key (ig_test_...): sandbox images, no credits")
    .option("--json", 'print {"account":...,"key":...}')
    .action(async (options: { account: string; test?: boolean; json?: boolean }) =>
      withAdmin(async ({ accounts }) => {
        const created = unwrap(await accounts.createKey(options.account, options.test ? "test" : "live", "cli"));
        if (options.json) {
          terminal.out(JSON.stringify({ account: options.account, accountId: created.record.accountId, keyId: created.record.id, key: created.key }));
        } else {
          terminal.out(`created key ${created.record.id} for account ${options.account}; it is shown only now:`);
          terminal.out(created.key);
        }
      }),
    );

  keys
    .command("list")
    .description("list API keys (ids and hints, never the keys)")
    .option("--account <name>", "only this account's keys")
    .option("--json", "print JSON")
    .action(async (options: { account?: string; json?: boolean }) =>
      withAdmin(async (session) => {
        const list = (await session.accounts.listKeys(await accountIdOf(session, options.account))).map(keyView);
        if (options.json) terminal.out(JSON.stringify(list));
        else {
          for (const key of list) {
            const status = key.revokedAt === null ? "active" : `revoked ${formatTime(key.revokedAt)}`;
            terminal.out(`${key.id}  ${key.hint}  ${key.mode}  ${key.accountId}  ${status}`);
          }
        }
      }),
    );

  keys
    .command("revoke")
    .description("revoke an API key: it answers 401 from now on")
    .argument("<keyId>", "the key's id (key_...)")
    .action(async (keyId: string) =>
      withAdmin(async ({ accounts }) => {
        unwrap(await accounts.revokeKey(keyId, "cli"));
        terminal.out(`revoked ${keyId}`);
      }),
    );

  keys
    .command("rotate")
    .description("replace an API key with a new one of the same account and mode; the old one is revoked")
    .argument("<keyId>", "the key's id (key_...)")
    .option("--json", 'print {"account":...,"accountId":...,"keyId":...,"key":...,"replaces":...}')
    .action(async (keyId: string, options: { json?: boolean }) =>
      withAdmin(async ({ accounts }) => {
        const rotated = unwrap(await accounts.rotateKey(keyId, "cli"));
        const account = unwrap(await accounts.requireAccount(rotated.record.accountId));
        if (options.json) {
          terminal.out(
            JSON.stringify({ account: account.name, accountId: account.id, keyId: rotated.record.id, key: rotated.key, replaces: keyId }),
          );
        } else {
          terminal.out(`revoked ${keyId}; created key ${rotated.record.id} for account ${account.name}; it is shown only now:`);
          terminal.out(rotated.key);
        }
      }),
    );
}
