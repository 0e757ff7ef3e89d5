import { systemClock, type Clock } from "../../domain/clock.ts";
import type { UpstreamOutcome } from "../metered-image-provider.ts";

export interface BreakerSettings {
  /** Opens after this many failed attempts in a row. */
  consecutiveFailures: number;
  /** Opens when failures reach this share (0 to 1) of the last `minimumAttempts` attempts. */
  failureRate: number;
  /** The window of the rate; no rate is judged before this many attempts were seen. */
  minimumAttempts: number;
  /** How long an open circuit skips its upstream before one probe task may try it. */
  coolDownMs: number;
}

export const DEFAULT_BREAKER: Readonly<BreakerSettings> = {
  consecutiveFailures: 5,
  failureRate: 0.5,
  minimumAttempts: 20,
  coolDownMs: 30_000,
};

export type CircuitState = "closed" | "open" | "half-open";

/** How a task may use the upstream now: as usual, as the one probe of a half-open circuit, or not at all. */
export type Admission = "pass" | "probe" | "skip";

/**
 * What an attempt's outcome says about the upstream. Rate limits, 5xx, network failures, slow
 * attempts and a rejected key are the upstream's (or its configuration's) fault; a refusal, an
 * answer without an image, a bad request or a cancellation are the request's and say nothing.
 */
export function countsAgainstUpstream(outcome: UpstreamOutcome): boolean | null {
  switch (outcome) {
    case "retryable_error":
    case "timeout":
    case "operator_error":
      return true;
    case "success":
    case "content_policy":
    case "invalid_output":
    case "provider_error":
      return false;
    case "canceled":
    case "internal":
      return null;
  }
}

export interface CircuitSnapshot {
  state: CircuitState;
  /** Epoch ms the circuit entered this state. */
  since: number;
  /** Epoch ms from which a probe may try the upstream; null while closed. */
  nextProbeAt: number | null;
  /** Whether the one probe of a half-open circuit is under way. */
  probing: boolean;
  consecutiveFailures: number;
  /** Failures among the attempts of the window, and the window's size so far. */
  recentFailures: number;
  recentAttempts: number;
}

/**
 * One upstream's circuit. Closed: every task may call it, and each attempt's outcome is counted;
 * it opens after `consecutiveFailures` failures in a row, or once the failures of the last
 * `minimumAttempts` attempts reach `failureRate`. Open: routes skip the upstream. After
 * `coolDownMs` it is half-open: exactly one task is admitted as a probe; its success closes the
 * circuit with fresh counts, its failure opens it for another cool-down. Attempts made while not
 * closed change nothing: only the probe's outcome decides.
 */
export class CircuitBreaker {
  readonly settings: Readonly<BreakerSettings>;
  readonly #clock: Clock;
  readonly #onChange: ((state: CircuitState) => void) | undefined;
  #open = false;
  #since: number;
  #openUntil = 0;
  #probing = false;
  #consecutive = 0;
  /** Ring of the last `minimumAttempts` outcomes: true for a failure. */
  readonly #window: boolean[] = [];
  #windowFailures = 0;

  constructor(settings: Readonly<BreakerSettings>, options: { clock?: Clock; onChange?: (state: CircuitState) => void } = {}) {
    this.settings = settings;
    this.#clock = options.clock ?? systemClock;
    this.#onChange = options.onChange;
    this.#since = this.#clock.now();
  }

  get state(): CircuitState {
    if (!this.#open) return "closed";
    return this.#clock.now() >= this.#openUntil ? "half-open" : "open";
  }

  /** Epoch ms from which a probe may go; null while closed. */
  get nextProbeAt(): number | null {
    return this.#open ? this.#openUntil : null;
  }

  /** Asks to use the upstream for one task; a "probe" must be ended with probeEnded. */
  admit(): Admission {
    switch (this.state) {
      case "closed":
        return "pass";
      case "open":
        return "skip";
      case "half-open":
        if (this.#probing) return "skip";
        this.#probing = true;
        return "probe";
    }
  }

  /**
   * Every circuit of a route is open: rather than fail the task, it probes the upstream whose
   * cool-down ends first, early. A probe already under way is left alone: this task then calls
   * the upstream without deciding anything.
   */
  forceProbe(): Admission {
    if (!this.#open) return "pass";
    if (this.#probing) return "pass";
    this.#probing = true;
    return "probe";
  }

  /** One attempt's outcome, from the upstream's meter. */
  recordAttempt(outcome: UpstreamOutcome): void {
    const failed = countsAgainstUpstream(outcome);
    if (failed === null || this.#open) return;
    this.#consecutive = failed ? this.#consecutive + 1 : 0;
    this.#window.push(failed);
    if (failed) this.#windowFailures += 1;
    if (this.#window.length > this.settings.minimumAttempts && this.#window.shift() === true) this.#windowFailures -= 1;
    const rateReached =
      this.#window.length >= this.settings.minimumAttempts && this.#windowFailures >= this.settings.failureRate * this.#window.length;
    if (this.#consecutive >= this.settings.consecutiveFailures || rateReached) this.#trip();
  }

  /**
   * The probe task's outcome on this upstream: a failure reopens the circuit; an answer (an image,
   * or a refusal, which shows the upstream up) closes it; a cancellation frees the probe for
   * another task.
   */
  probeEnded(outcome: UpstreamOutcome): void {
    if (!this.#probing) return;
    this.#probing = false;
    const failed = countsAgainstUpstream(outcome);
    if (failed === true) this.#trip();
    else if (failed === false && this.#open) this.#close();
  }

  snapshot(): CircuitSnapshot {
    const state = this.state;
    return {
      state,
      since: state === "half-open" ? this.#openUntil : this.#since,
      nextProbeAt: this.nextProbeAt,
      probing: this.#probing,
      consecutiveFailures: this.#consecutive,
      recentFailures: this.#windowFailures,
      recentAttempts: this.#window.length,
    };
  }

  #trip(): void {
    const wasOpen = this.#open;
    this.#open = true;
    this.#since = this.#clock.now();
    this.#openUntil = this.#since + this.settings.coolDownMs;
    if (!wasOpen) this.#resetCounts();
    this.#onChange?.("open");
  }

  #close(): void {
    this.#open = false;
    this.#since = this.#clock.now();
    this.#resetCounts();
    this.#onChange?.("closed");
  }

  #resetCounts(): void {
    this.#consecutive = 0;
    this.#window.length = 0;
    this.#windowFailures = 0;
  }
}
