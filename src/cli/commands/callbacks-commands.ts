import { Option, type Command } from "commander";
import { deliveryDetailsView, deliveryView, type DeliveryDetailsView } from "../../views/callback-views.ts";
import { DELIVERY_STATES } from "../../domain/callbacks/callback-service.ts";
import type { DeliveryState } from "../../domain/callbacks/callback.ts";
import { formatTable, formatTime, unwrap, wholeNumber, type CommandTools } from "./cli-support.ts";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;

interface ListOptions {
  account?: string;
  task?: string;
  state?: DeliveryState;
  limit?: string;
  json?: boolean;
}

function orDash(value: string | number | null): string {
  return value === null ? "-" : String(value);
}

function printDetails(view: DeliveryDetailsView, out: (line: string) => void): void {
  const { delivery, attempts } = view;
  const lines: [string, string][] = [
    ["delivery", delivery.id],
    ["task", delivery.taskId],
    ["account", `${delivery.accountName ?? "?"} (${delivery.accountId})`],
    ["url", delivery.url],
    ["state", delivery.state],
    ["attempts", String(delivery.attempts)],
    ["created", formatTime(delivery.createdAt)],
  ];
  if (delivery.deliveredAt !== null) lines.push(["delivered", formatTime(delivery.deliveredAt)]);
  if (delivery.nextAttemptAt !== null) lines.push(["next", formatTime(delivery.nextAttemptAt)]);
  lines.push(["payload", delivery.payload]);
  for (const [label, value] of lines) out(`${label.padEnd(11)}${value}`);
  if (attempts.length === 0) {
    out("no attempts yet");
    return;
  }
  const rows = attempts.map((attempt) => [formatTime(attempt.at), orDash(attempt.status), `${attempt.durationMs} ms`, orDash(attempt.error)]);
  for (const line of formatTable(["TIME", "STATUS", "DURATION", "ERROR"], rows, [2])) out(line);
}

export function registerCallbacksCommands(program: Command, { withAdmin, terminal }: CommandTools): void {
  const callbacks = program.command("callbacks").description("callback deliveries: list, show with every attempt, send again");
  callbacks
    .command("list")
    .description("list callback deliveries, newest first")
    .option("--account <name>", "only this account's deliveries (name or id)")
    .option("--task <taskId>", "only this task's deliveries")
    .addOption(new Option("--state <state>", "only deliveries in this state").choices(DELIVERY_STATES))
    .option("--limit <count>", `at most this many, 1 to ${MAX_LIMIT} (default ${DEFAULT_LIMIT})`)
    .option("--json", "print JSON")
    .action(async (options: ListOptions) => {
      const limit = options.limit === undefined ? DEFAULT_LIMIT : wholeNumber("--limit", options.limit, 1, MAX_LIMIT);
      await withAdmin(async (session) => {
        const deliveries = unwrap(
          await session.callbacks.listDeliveries({
            limit,
            ...(options.account === undefined ? {} : { account: options.account }),
            ...(options.task === undefined ? {} : { taskId: options.task }),
            ...(options.state === undefined ? {} : { state: options.state }),
          }),
        );
        const names = new Map((await session.accounts.listAccounts()).map((account) => [account.id, account.name]));
        const views = deliveries.map((delivery) => deliveryView(delivery, names.get(delivery.accountId) ?? null));
        if (options.json) {
          terminal.out(JSON.stringify(views));
          return;
        }
        if (views.length === 0) {
          terminal.out("no callback deliveries match");
          return;
        }
        const rows = views.map((view) => [
          view.id,
          view.taskId,
          view.accountName ?? view.accountId,
          view.state,
          String(view.attempts),
          orDash(view.lastStatus),
          formatTime(view.updatedAt),
          orDash(view.lastError),
        ]);
        const header = ["DELIVERY", "TASK", "ACCOUNT", "STATE", "ATTEMPTS", "STATUS", "UPDATED", "ERROR"];
        for (const line of formatTable(header, rows, [4])) terminal.out(line);
      });
    });

  callbacks
    .command("show")
    .description("show a delivery with its body and every attempt (time, status, duration, error)")
    .argument("<deliveryId>", "the delivery's id (msg_...), the callback's webhook-id")
    .option("--json", 'print {"delivery":...,"attempts":[...]}')
    .action(async (deliveryId: string, options: { json?: boolean }) =>
      withAdmin(async (session) => {
        const details = unwrap(await session.callbacks.showDelivery(deliveryId));
        const account = await session.accounts.findAccount(details.delivery.accountId);
        const view = deliveryDetailsView(details, account?.name ?? null);
        if (options.json) terminal.out(JSON.stringify(view));
        else printDetails(view, (line) => terminal.out(line));
      }),
    );

  callbacks
    .command("redeliver")
    .description("send a delivery again, whatever its state; the running server sends it at its next poll (within a second)")
    .argument("<deliveryId>", "the delivery's id (msg_...)")
    .action(async (deliveryId: string) =>
      withAdmin(async (session) => {
        const queued = unwrap(await session.callbacks.redeliver(deliveryId, "cli"));
        terminal.out(`queued ${queued.id} (task ${queued.taskId}) for redelivery; the running server sends it within a second`);
      }),
    );
}
