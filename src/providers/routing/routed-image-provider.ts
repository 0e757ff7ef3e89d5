import type { Logger } from "pino";
import { systemClock, type Clock } from "../../domain/clock.ts";
import {
  ProviderError,
  type ImageOutput,
  type ImageProvider,
  type ImageRequest,
  type ProviderHealth,
} from "../image-provider.ts";
import { upstreamOutcomeOf, type UpstreamOutcome } from "../metered-image-provider.ts";
import { abortedRequestError } from "../request-abort.ts";
import type { Random } from "../sleep.ts";
import { withSingleStart } from "../start-once.ts";
import type { Admission, CircuitBreaker } from "./circuit-breaker.ts";
import type { UpstreamStats } from "./upstream-stats.ts";

export const ROUTE_POLICIES = ["failover", "weighted"] as const;
export type RoutePolicy = (typeof ROUTE_POLICIES)[number];

/** One upstream as routes see it; the same object is shared by every route that names it. */
export interface RouteMember {
  readonly name: string;
  /** The upstream inside its layers (retries, concurrency, metering). */
  readonly provider: ImageProvider;
  readonly breaker: CircuitBreaker;
  readonly stats: UpstreamStats;
  /** Its share of a weighted route's first tries. */
  readonly weight: number;
}

export interface RoutedImageProviderOptions {
  /** The public model the route serves, for logs. */
  model: string;
  policy: RoutePolicy;
  clock?: Clock;
  random?: Random;
  logger?: Logger;
}

/**
 * Whether a failure on one upstream lets the next one try: a retryable failure or a misconfigured
 * upstream (a rejected key, an unknown model) does. A refusal (CONTENT_POLICY) would be refused
 * again elsewhere, another non-retryable failure is the request's fault, and a task canceled or
 * out of time is over, so none of those does.
 */
export function fallsBack(error: unknown): error is ProviderError {
  return (
    error instanceof ProviderError &&
    (error.retryable || error.operatorError) &&
    error.code !== "CONTENT_POLICY" &&
    error.code !== "CANCELED" &&
    error.code !== "TIMEOUT"
  );
}

/** The route's upstreams for one task: a draw by weight without replacement, so each is tried at most once. */
export function weightedOrder<T extends { weight: number }>(members: readonly T[], random: Random): T[] {
  const left = [...members];
  const order: T[] = [];
  while (left.length > 0) {
    const total = left.reduce((sum, member) => sum + member.weight, 0);
    let index = 0;
    if (total > 0) {
      let draw = random() * total;
      index = left.findIndex((member) => (draw -= member.weight) < 0);
      // Rounding may leave the draw a hair above zero at the end: the last weighted member then.
      if (index === -1) index = left.findLastIndex((member) => member.weight > 0);
    }
    order.push(...left.splice(index, 1));
  }
  return order;
}

/**
 * A public model's route over several upstreams, one at a time: never two at once for a task.
 * "failover" tries them in the configured order; "weighted" draws the order per task by weight.
 * An upstream whose circuit is open is skipped without being called; a half-open one is tried by
 * one probe task only. When every circuit is open the task does not fail outright: it probes the
 * upstream whose cool-down ends first. What falls back to the next upstream, see fallsBack; nothing
 * does once the task's deadline passed.
 */
export class RoutedImageProvider implements ImageProvider {
  readonly name: string;
  readonly members: readonly RouteMember[];
  readonly policy: RoutePolicy;
  readonly #model: string;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #logger: Logger | undefined;

  constructor(members: readonly RouteMember[], options: RoutedImageProviderOptions) {
    if (members.length === 0) throw new RangeError(`the route of ${options.model} needs at least one upstream`);
    this.members = members;
    this.policy = options.policy;
    this.#model = options.model;
    this.name = members.map((member) => member.name).join(options.policy === "weighted" ? "|" : ">");
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger;
  }

  async generate(request: ImageRequest): Promise<ImageOutput> {
    const routed = withSingleStart(request);
    const order = this.policy === "weighted" ? weightedOrder(this.members, this.#random) : [...this.members];
    const skipped = new Set<RouteMember>();
    let failure: ProviderError | null = null;
    try {
      for (const member of order) {
        const admission = member.breaker.admit();
        if (admission === "skip") {
          skipped.add(member);
          continue;
        }
        if (failure !== null) {
          this.#logger?.warn(
            { taskId: request.taskId, model: this.#model, to: member.name, code: failure.code },
            "falling back to the next upstream of the route",
          );
        }
        const outcome = await this.#tryOn(member, admission, routed);
        if ("output" in outcome) return outcome.output;
        failure = outcome.error;
      }
      if (failure === null) {
        // Every circuit is open: probe the one that would have been probed first.
        const earliest = [...skipped].reduce((best, member) =>
          (member.breaker.nextProbeAt ?? 0) < (best.breaker.nextProbeAt ?? 0) ? member : best,
        );
        skipped.delete(earliest);
        this.#logger?.warn(
          { taskId: request.taskId, model: this.#model, upstream: earliest.name },
          "every upstream of the route has an open circuit; probing the one whose cool-down ends first",
        );
        const outcome = await this.#tryOn(earliest, earliest.breaker.forceProbe(), routed);
        if ("output" in outcome) return outcome.output;
        failure = outcome.error;
      }
      throw failure;
    } finally {
      for (const member of skipped) member.stats.taskSkipped();
    }
  }

  /** One upstream's turn: its output, or a failure the next upstream may take over; anything else is thrown. */
  async #tryOn(member: RouteMember, admission: Admission, request: ImageRequest): Promise<{ output: ImageOutput } | { error: ProviderError }> {
    member.stats.taskStarted();
    let outcome: UpstreamOutcome = "internal";
    try {
      const output = await member.provider.generate(request);
      outcome = "success";
      return { output };
    } catch (error) {
      outcome = upstreamOutcomeOf(error);
      if (request.signal.aborted) throw abortedRequestError(request.signal);
      if (!fallsBack(error) || this.#clock.now() >= request.deadline) throw error;
      return { error };
    } finally {
      member.stats.taskEnded(outcome === "success");
      if (admission === "probe") member.breaker.probeEnded(outcome);
    }
  }

  async checkUpstream(): Promise<void> {
    await Promise.all(this.members.map((member) => member.provider.checkUpstream?.()));
  }

  /** Healthy while one upstream of the route is not open and its provider reports no problem. */
  health(): ProviderHealth {
    const reasons: string[] = [];
    for (const member of this.members) {
      const report = member.provider.health?.() ?? { ok: true };
      const state = member.breaker.state;
      if (report.ok && state !== "open") return { ok: true };
      reasons.push(state === "open" ? `${member.name}: circuit open` : `${member.name}: ${report.reason ?? "not healthy"}`);
    }
    return { ok: false, reason: reasons.join("; ") };
  }
}
