import { Command, CommanderError, Option } from "commander";
import { ConfigError } from "../config.ts";
import type { Failure } from "../domain/errors.ts";
import { runServe } from "../main.ts";
import { openAdminSession, type AdminSession } from "./admin.ts";
import { runGenerate, type Terminal } from "./generate.ts";

class CliFailure extends Error {}

function unwrap<T>(result: { ok: true; value: T } | Failure): T {
  if (!result.ok) throw new CliFailure(result.message);
  return result.value;
}

function formatTime(epochMs: number | null): string {
  return epochMs === null ? "-" : new Date(epochMs).toISOString();
}

export function buildProgram(env: Readonly<Record<string, string | undefined>>, terminal: Terminal): Command {
  const withAdmin = async (work: (session: AdminSession) => Promise<void>): Promise<void> => {
    const session = await openAdminSession(env);
    try {
      await work(session);
    } finally {
      await session.close();
    }
  };

  const program = new Command("imagegate")
    .description("Self-hostable image-generation API server. Administration commands use DATA_DIR (default ./data).")
    .exitOverride()
    .configureOutput({ writeOut: (text) => terminal.out(text.trimEnd()), writeErr: (text) => terminal.err(text.trimEnd()) });

  program
    .command("serve")
    .description("start the server (configuration from the environment; see README)")
    .action(async () => {
      await runServe(env);
    });

  const accounts = program.command("accounts").description("manage accounts");
  accounts
    .command("create")
    .description("create an account")
    .requiredOption("--name <name>", "account name")
    .option("--json", "print JSON")
    .action(async (options: { name: string; json?: boolean }) =>
      withAdmin(async ({ accounts: service }) => {
        const account = unwrap(await service.createAccount(options.name));
        terminal.out(options.json ? JSON.stringify(account) : `created account ${account.name} (${account.id})`);
      }),
    );
  accounts
    .command("list")
    .description("list accounts")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }) =>
      withAdmin(async ({ accounts: service }) => {
        const list = await service.listAccounts();
        if (options.json) terminal.out(JSON.stringify(list));
        else for (const account of list) terminal.out(`${account.id}  ${account.name}  ${formatTime(account.createdAt)}`);
      }),
    );

  const keys = program.command("keys").description("manage API keys");
  keys
    .command("create")
    .description("create an API key for an account; the key is printed once")
    .requiredOption("--account <name>", "account name or id")
    .option("--test", "a test-mode key (ig_test_...): sandbox images, no credits")
    .option("--json", 'print {"account":...,"key":...}')
    .action(async (options: { account: string; test?: boolean; json?: boolean }) =>
      withAdmin(async ({ accounts: service }) => {
        const created = unwrap(await service.createKey(options.account, options.test ? "test" : "live"));
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
      withAdmin(async ({ accounts: service }) => {
        let accountId: string | undefined;
        if (options.account !== undefined) {
          const account = await service.findAccount(options.account);
          if (account === null) throw new CliFailure(`no account named ${options.account}`);
          accountId = account.id;
        }
        const list = (await service.listKeys(accountId)).map(({ hash: _hash, ...rest }) => rest);
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
      withAdmin(async ({ accounts: service }) => {
        unwrap(await service.revokeKey(keyId));
        terminal.out(`revoked ${keyId}`);
      }),
    );

  program
    .command("generate")
    .description("generate an image through a running server and save it")
    .argument("<prompt>", "what to draw")
    .option("--ratio <ratio>", "aspect ratio: 1:1, 9:16, 16:9, 3:4, 4:3, 3:2, 2:3, 5:4, 4:5, 21:9, auto")
    .addOption(new Option("--format <format>", "output format").choices(["png", "jpeg", "jpg"]))
    .option("--no-nsfw-checker", "relax the provider's safety checking as far as it allows")
    .option("-o, --output <file>", "where to save the image (default ./<taskId>.<ext>)")
    .option("--base-url <url>", "the server's URL (default IMAGEGATE_BASE_URL or http://localhost:8080)")
    .option("--key <key>", "API key (default IMAGEGATE_API_KEY)")
    .action(
      async (
        prompt: string,
        options: { ratio?: string; format?: string; nsfwChecker: boolean; output?: string; baseUrl?: string; key?: string },
      ) => {
        process.exitCode = await runGenerate(
          {
            prompt,
            ...(options.ratio === undefined ? {} : { ratio: options.ratio }),
            ...(options.format === undefined ? {} : { format: options.format }),
            nsfwChecker: options.nsfwChecker,
            ...(options.output === undefined ? {} : { output: options.output }),
            baseUrl: options.baseUrl ?? env.IMAGEGATE_BASE_URL ?? "http://localhost:8080",
            key: options.key ?? env.IMAGEGATE_API_KEY,
          },
          terminal,
        );
      },
    );
  return program;
}

const consoleTerminal: Terminal = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

export async function runCli(argv: readonly string[]): Promise<void> {
  const program = buildProgram(process.env, consoleTerminal);
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    if (error instanceof CliFailure || error instanceof ConfigError) {
      consoleTerminal.err(`imagegate: ${error.message}`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
}
