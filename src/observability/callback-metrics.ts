import { Counter, type Registry } from "prom-client";
import type { CallbackAttemptObserver, CallbackAttemptOutcome } from "../worker/callback-sender.ts";

/** `imagegate_callback_deliveries_total` by outcome: delivered, retrying (an attempt failed), gave_up. */
export class CallbackMetrics implements CallbackAttemptObserver {
  private readonly attempts: Counter<"outcome">;

  constructor(registry: Registry) {
    this.attempts = new Counter({
      name: "imagegate_callback_deliveries_total",
      help: "Callback delivery attempts, by outcome: delivered, retrying (failed, to be tried again) or gave_up (failed for good).",
      labelNames: ["outcome"],
      registers: [registry],
    });
    // Every outcome shows from the start, so a rate over it is defined before the first failure.
    for (const outcome of ["delivered", "retrying", "gave_up"] as const) this.attempts.inc({ outcome }, 0);
  }

  callbackAttemptEnded(outcome: CallbackAttemptOutcome): void {
    this.attempts.inc({ outcome });
  }
}
