import type { Logger } from "pino";
import type { CallbackDelivery, CallbackOutbox, DeliveryState } from "../domain/callbacks/callback.ts";
import { nextAttemptAt } from "../domain/callbacks/retry-schedule.ts";
import { signCallback } from "../domain/callbacks/signing.ts";
import type { Clock } from "../domain/clock.ts";
import { OutboundNetworkError, OutboundRefusedError, type GuardedFetch, type GuardedResponse } from "../net/guarded-fetch.ts";
import { parseRetryAfter } from "../net/retry-after.ts";

/** How one delivery attempt ended: delivered, failed to be tried again, or failed for good. */
export type CallbackAttemptOutcome = "delivered" | "retrying" | "gave_up";

/** Told of every recorded attempt; implemented by the metrics, which the sender does not know. */
export interface CallbackAttemptObserver {
  callbackAttemptEnded(outcome: CallbackAttemptOutcome): void;
}

export interface CallbackSenderParts {
  outbox: CallbackOutbox;
  /** The account's webhook secret (`whsec_...`), made on first use. */
  secretOf: (accountId: string) => Promise<string>;
  /** The SSRF-guarded fetch: refuses non-public addresses and never follows redirects. */
  transport: GuardedFetch;
  clock: Clock;
  /** Uniform in [0, 1): the jitter of the retry schedule. */
  random: () => number;
  logger: Logger;
  /**
   * Names this sender's leases in the outbox: an id made afresh at each start of the server, so
   * that the next start can tell the leases a crash left behind from its own.
   */
  leaseOwner: string;
  /** Monotonic milliseconds for attempt durations; `performance.now` unless a test pins it. */
  elapsed?: () => number;
  observer?: CallbackAttemptObserver;
}

export interface CallbackSenderOptions {
  /** A receiver that has not answered within this is treated as down. */
  timeoutMs: number;
  /** Deliveries sent at once; a slow receiver holds one slot, not the whole sender. */
  concurrency: number;
  /** How often the outbox is read when nothing wakes the sender (other processes, retries). */
  pollIntervalMs: number;
  /** How long a claimed delivery stays hidden from other senders while this one sends it. */
  leaseMs: number;
  /** How long stop() waits for sends in flight before aborting them. */
  stopGraceMs: number;
}

export const DEFAULT_CALLBACK_SENDER_OPTIONS: CallbackSenderOptions = {
  timeoutMs: 15_000,
  concurrency: 16,
  pollIntervalMs: 1_000,
  leaseMs: 60_000,
  stopGraceMs: 5_000,
};

/** What one attempt came to, before the schedule decides when (or whether) to try again. */
export type AttemptVerdict =
  | { kind: "delivered"; status: number }
  | { kind: "failed"; status: number | null; error: string }
  | { kind: "retry"; status: number | null; error: string; retryAfterMs: number | null };

/** The receiver's answer, judged: 2xx delivers, 410 ends it, everything else is tried again. */
export function judgeResponse(response: Pick<GuardedResponse, "status" | "headers">, url: string, now: number): AttemptVerdict {
  const status = response.status;
  if (status >= 200 && status < 300) return { kind: "delivered", status };
  // 410 is the receiver saying the endpoint is gone for good; retrying for a day would be noise.
  if (status === 410) return { kind: "failed", status, error: "receiver answered 410 Gone" };
  if (status >= 300 && status < 400) {
    return { kind: "retry", status, error: describeRedirect(status, response.headers.get("location"), url), retryAfterMs: null };
  }
  if (status === 429 || status === 503) {
    const header = response.headers.get("retry-after");
    const retryAfterMs = parseRetryAfter(header, now);
    const asked = retryAfterMs === null ? "" : ` (Retry-After: ${header ?? ""})`;
    return { kind: "retry", status, error: `receiver answered ${status}${asked}`, retryAfterMs };
  }
  return { kind: "retry", status, error: `receiver answered ${status}`, retryAfterMs: null };
}

function describeRedirect(status: number, location: string | null, url: string): string {
  if (location === null) return `receiver answered ${status}`;
  try {
    return `redirect to ${new URL(location, url).host} not followed`;
  } catch {
    return "redirect to an invalid Location not followed";
  }
}

/** The URL's host for logs: the path and query may carry the receiver's own tokens. */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "(invalid URL)";
  }
}

interface NextState {
  state: DeliveryState;
  nextAttemptAt: number;
  deliveredAt: number | null;
}

/**
 * Sends the callback outbox: claims due deliveries under a lease, POSTs each signed payload
 * through the guarded fetch, and records every attempt with the delivery's next state. Retries
 * follow the schedule module; the outbox row is the only state, so a restart simply carries on.
 */
export class CallbackSender {
  private readonly options: CallbackSenderOptions;
  private readonly elapsed: () => number;
  private readonly inFlight = new Set<Promise<void>>();
  private loop: Promise<void> | null = null;
  private stopping = false;
  private wakeRequested = false;
  private wakeUp: (() => void) | null = null;
  private shutdown = new AbortController();

  constructor(
    private readonly parts: CallbackSenderParts,
    options: Partial<CallbackSenderOptions> = {},
  ) {
    const merged = { ...DEFAULT_CALLBACK_SENDER_OPTIONS, ...options };
    // A lease shorter than a send would let a second sender post the same delivery concurrently.
    this.options = {
      ...merged,
      concurrency: Math.max(1, merged.concurrency),
      leaseMs: Math.max(merged.leaseMs, merged.timeoutMs * 2),
    };
    this.elapsed = parts.elapsed ?? (() => performance.now());
  }

  /** Starts the background loop: claim, send, then sleep until the next due time, a poll or wake(). */
  start(): void {
    if (this.loop !== null) return;
    this.stopping = false;
    this.shutdown = new AbortController();
    this.loop = this.runLoop();
  }

  /** A task with a callback has just settled: send it now rather than at the next poll. */
  wake(): void {
    this.wakeRequested = true;
    this.wakeUp?.();
  }

  /** Sends everything due now and resolves once every attempt is recorded. */
  async runOnce(): Promise<void> {
    await this.drain();
    await Promise.all(this.inFlight);
  }

  /**
   * Stops claiming and waits up to `graceMs` for sends in flight; any still running are then
   * aborted and recorded as failed attempts, to be retried on the schedule after a restart.
   */
  async stop(graceMs = this.options.stopGraceMs): Promise<void> {
    this.stopping = true;
    this.wakeUp?.();
    const loop = this.loop ?? Promise.resolve();
    this.loop = null;
    const settle = async (): Promise<true> => {
      await loop;
      // A claim that was already under way when stop() began adds sends after this started.
      while (this.inFlight.size > 0) await Promise.all(this.inFlight);
      return true;
    };
    const finished = settle();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), graceMs);
    });
    const inTime = await Promise.race([finished, expired]);
    clearTimeout(timer);
    if (!inTime) {
      this.shutdown.abort();
      await finished;
    }
  }

  private async runLoop(): Promise<void> {
    while (!this.stopping) {
      this.wakeRequested = false;
      try {
        await this.drain();
      } catch (error) {
        this.parts.logger.error({ err: error }, "reading the callback outbox failed");
      }
      // A wake that came while the outbox was being read may concern a row the read missed.
      if (this.stopping || this.wakeRequested) continue;
      await this.idle();
    }
  }

  /** Claims and starts due deliveries while slots are free; returns once nothing more is due. */
  private async drain(): Promise<void> {
    while (!this.stopping) {
      const free = this.options.concurrency - this.inFlight.size;
      if (free <= 0) {
        await Promise.race(this.inFlight);
        continue;
      }
      const now = this.parts.clock.now();
      const due = await this.parts.outbox.claimDue(now, now + this.options.leaseMs, free, this.parts.leaseOwner);
      for (const delivery of due) this.track(delivery);
      if (due.length < free) return;
    }
  }

  private async idle(): Promise<void> {
    let waitMs = this.options.pollIntervalMs;
    try {
      const due = await this.parts.outbox.nextDue();
      if (due !== null) waitMs = Math.min(waitMs, Math.max(0, due - this.parts.clock.now()));
    } catch (error) {
      this.parts.logger.error({ err: error }, "reading the callback outbox failed");
    }
    if (this.stopping || this.wakeRequested) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeUp = null;
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      // The sender alone must not keep a process alive; the HTTP server does that.
      timer.unref();
      this.wakeUp = done;
    });
  }

  private track(delivery: CallbackDelivery): void {
    const sending: Promise<void> = this.deliver(delivery)
      .catch((error: unknown) => {
        // The attempt could not be recorded; the lease expires and the delivery is claimed again.
        this.parts.logger.error({ err: error, deliveryId: delivery.id, taskId: delivery.taskId }, "recording a callback attempt failed");
      })
      .finally(() => {
        this.inFlight.delete(sending);
      });
    this.inFlight.add(sending);
  }

  private async deliver(delivery: CallbackDelivery): Promise<void> {
    const { clock, logger } = this.parts;
    const attempt = delivery.attempts + 1;
    const log = logger.child({ deliveryId: delivery.id, taskId: delivery.taskId, host: hostOf(delivery.url), attempt });
    const at = clock.now();
    let verdict: AttemptVerdict;
    let durationMs = 0;
    try {
      const secret = await this.parts.secretOf(delivery.accountId);
      const headers = signCallback({
        secret,
        webhookId: delivery.id,
        taskId: delivery.taskId,
        timestampSeconds: Math.floor(at / 1_000),
        body: delivery.payload,
      });
      const startedAt = this.elapsed();
      verdict = await this.send(delivery, { ...headers }, log);
      durationMs = Math.max(0, Math.round(this.elapsed() - startedAt));
    } catch (error) {
      // A fault on our side (the secret lookup): retried on the schedule like a receiver failure.
      log.error({ err: error }, "preparing a callback failed");
      verdict = { kind: "retry", status: null, error: "internal error before sending", retryAfterMs: null };
    }

    const settledAt = clock.now();
    const { next, error } = this.nextState(delivery, verdict, attempt, at, settledAt);
    await this.parts.outbox.recordAttempt(
      { deliveryId: delivery.id, at, status: verdict.status, durationMs, error },
      next,
    );
    this.parts.observer?.callbackAttemptEnded(
      next.state === "delivered" ? "delivered" : next.state === "failed" ? "gave_up" : "retrying",
    );
    const fields = { status: verdict.status, durationMs };
    if (next.state === "delivered") log.info(fields, "callback delivered");
    else if (next.state === "failed") log.warn({ ...fields, error }, "callback failed for good");
    else log.warn({ ...fields, error, nextAttemptAt: new Date(next.nextAttemptAt).toISOString() }, "callback attempt failed; will retry");
  }

  private async send(delivery: CallbackDelivery, headers: Record<string, string>, log: Logger): Promise<AttemptVerdict> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.options.timeoutMs);
    try {
      const response = await this.parts.transport(delivery.url, {
        method: "POST",
        headers,
        body: delivery.payload,
        signal: AbortSignal.any([timeout.signal, this.shutdown.signal]),
      });
      return judgeResponse(response, delivery.url, this.parts.clock.now());
    } catch (error) {
      // Refused before any connection: the address will not become public by waiting.
      if (error instanceof OutboundRefusedError) return { kind: "failed", status: null, error: `refused: ${error.reason}` };
      const retry = (message: string): AttemptVerdict => ({ kind: "retry", status: null, error: message, retryAfterMs: null });
      if (timeout.signal.aborted) return retry(`timed out after ${this.options.timeoutMs} ms`);
      if (this.shutdown.signal.aborted) return retry("aborted: the server was shutting down");
      if (error instanceof OutboundNetworkError) return retry(error.reason);
      log.error({ err: error }, "callback transport failed unexpectedly");
      return retry("network error");
    } finally {
      clearTimeout(timer);
    }
  }

  private nextState(
    delivery: CallbackDelivery,
    verdict: AttemptVerdict,
    attempt: number,
    at: number,
    now: number,
  ): { next: NextState; error: string | null } {
    if (verdict.kind === "delivered") return { next: { state: "delivered", nextAttemptAt: at, deliveredAt: now }, error: null };
    if (verdict.kind === "failed") return { next: { state: "failed", nextAttemptAt: at, deliveredAt: null }, error: verdict.error };
    const retryAt = nextAttemptAt({
      attempts: attempt,
      now,
      firstAttemptAt: delivery.createdAt,
      retryAfterMs: verdict.retryAfterMs,
      random: this.parts.random,
    });
    if (retryAt === null) {
      return {
        next: { state: "failed", nextAttemptAt: at, deliveredAt: null },
        error: `${verdict.error}; gave up after ${attempt} attempts over 24 h`,
      };
    }
    return { next: { state: "pending", nextAttemptAt: retryAt, deliveredAt: null }, error: verdict.error };
  }
}
