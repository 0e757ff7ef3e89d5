import path from "node:path";
import { Command, CommanderError, Option } from "commander";
import { ConfigError, loadConfig } from "../config.ts";
import { ASPECT_RATIOS, RESOLUTIONS } from "../domain/catalog/aspect-ratios.ts";
import { registerAccountsCommands } from "./commands/accounts-commands.ts";
import { registerCallbacksCommands } from "./commands/callbacks-commands.ts";
import { CliFailure, type WithAdmin } from "./commands/cli-support.ts";
import { registerCreditsCommands } from "./commands/credits-commands.ts";
import { registerKeysCommands } from "./commands/keys-commands.ts";
import { registerLimitsCommands } from "./commands/limits-commands.ts";
import { registerTasksCommands } from "./commands/tasks-commands.ts";
import { registerUpstreamsCommand } from "./commands/upstreams-commands.ts";
import { registerUsageCommands } from "./commands/usage-commands.ts";
import { registerWebhookSecretCommand } from "./commands/webhook-secret-commands.ts";
import { DEFAULT_MODEL, runGenerate, type Terminal } from "./generate.ts";

interface GenerateCommandOptions {
  model?: string;
  image?: string[];
  ratio?: string;
  resolution?: string;
  format?: string;
  nsfwChecker: boolean;
  output?: string;
  baseUrl?: string;
  key?: string;
}

export function buildProgram(env: Readonly<Record<string, string | undefined>>, terminal: Terminal): Command {
  // The server, the database and their packages load only for the commands that use them, so
  // `imagegate --help` and a mistyped option answer at once.
  const withAdmin: WithAdmin = async (work) => {
    const { openAdminSession } = await import("./admin.ts");
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
    .option("--role <role>", "all: API and workers (default); api: answers HTTP only; worker: runs tasks, callbacks and sweeps (both need DATABASE_URL and REDIS_URL); overrides ROLE")
    .action(async (options: { role?: string }) => {
      const { runServe } = await import("../main.ts");
      await runServe(options.role === undefined ? env : { ...env, ROLE: options.role });
    });

  program
    .command("migrate")
    .description("apply the database schema and exit: PostgreSQL with DATABASE_URL (under a lock, safe beside starting servers), else SQLite in DATA_DIR; serve also does it at start")
    .action(async () => {
      const { openStorage } = await import("../composition/storage.ts");
      const config = loadConfig(env);
      const storage = await openStorage(config);
      await storage.close();
      terminal.out(config.databaseUrl === null ? `database schema up to date in ${config.dataDir}` : "database schema up to date in PostgreSQL");
    });

  const tools = { withAdmin, terminal };
  registerAccountsCommands(program, tools);
  registerWebhookSecretCommand(program, tools);
  registerCreditsCommands(program, tools);
  registerKeysCommands(program, tools);
  registerLimitsCommands(program, tools);
  registerTasksCommands(program, tools);
  registerUsageCommands(program, tools);
  registerCallbacksCommands(program, tools);
  registerUpstreamsCommand(program, env, terminal);

  program
    .command("backup")
    .description("copy DATA_DIR's database (a consistent snapshot), result files and URL-signing key into a new directory, also while the server runs")
    .argument("<directory>", "where the copy goes: a new or empty directory")
    .option("--json", "print the summary as JSON")
    .action(async (directory: string, options: { json?: boolean }) => {
      const target = path.resolve(directory);
      const config = loadConfig(env);
      const elsewhere = [
        ...(config.databaseUrl === null ? [] : ["DATABASE_URL keeps the state in PostgreSQL: back it up with pg_dump"]),
        ...(config.s3 === null ? [] : ["BLOB_STORE=s3 keeps the files in the bucket: use the store's versioning or replication"]),
      ];
      if (elsewhere.length > 0) {
        throw new CliFailure(`backup copies what lives in DATA_DIR, and this configuration keeps it elsewhere: ${elsewhere.join("; ")}`);
      }
      const { backupDataDirectory } = await import("./backup.ts");
      const summary = await backupDataDirectory(config.dataDir, target);
      if (options.json === true) {
        terminal.out(JSON.stringify({ directory: target, ...summary }));
        return;
      }
      terminal.out(
        `backed up to ${target} in ${summary.milliseconds} ms: database ${summary.databaseBytes} bytes, ${summary.resultFiles} result files (${summary.resultBytes} bytes), the URL-signing key`,
      );
    });

  program
    .command("generate")
    .description("generate an image through a running server and save it; local --image files are uploaded first")
    .argument("<prompt>", "what to draw")
    .option("--model <id>", `the model (\`GET /api/v1/models\` lists them; default ${DEFAULT_MODEL})`)
    .option(
      "--image <path-or-url>",
      "a reference image: a local file (uploaded first) or an http(s) URL; repeat it for more, in the order the prompt refers to them",
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
    .option("--ratio <ratio>", `aspect ratio: ${ASPECT_RATIOS.join(", ")} (which ones, the model says)`)
    .addOption(new Option("--resolution <resolution>", "output resolution, for the models that have several").choices(RESOLUTIONS))
    .addOption(new Option("--format <format>", "output format").choices(["png", "jpeg", "jpg"]))
    .option("--no-nsfw-checker", "relax the provider's safety checking as far as it allows")
    .option("-o, --output <file>", "where to save the image (default ./<taskId>.<ext>)")
    .option("--base-url <url>", "the server's URL (default IMAGEGATE_BASE_URL or http://localhost:8080)")
    .option("--key <key>", "API key (default IMAGEGATE_API_KEY)")
    .action(async (prompt: string, options: GenerateCommandOptions) => {
      process.exitCode = await runGenerate(
        {
          prompt,
          ...(options.model === undefined ? {} : { model: options.model }),
          images: options.image ?? [],
          ...(options.ratio === undefined ? {} : { ratio: options.ratio }),
          ...(options.resolution === undefined ? {} : { resolution: options.resolution }),
          ...(options.format === undefined ? {} : { format: options.format }),
          nsfwChecker: options.nsfwChecker,
          ...(options.output === undefined ? {} : { output: options.output }),
          baseUrl: options.baseUrl ?? env.IMAGEGATE_BASE_URL ?? "http://localhost:8080",
          key: options.key ?? env.IMAGEGATE_API_KEY,
        },
        terminal,
      );
    });
  return program;
}

const consoleTerminal: Terminal = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  write: (text) => process.stdout.write(text),
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
