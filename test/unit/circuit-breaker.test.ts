import { describe, expect, it } from "vitest";
import { CircuitBreaker, type BreakerSettings } from "../../src/providers/routing/circuit-breaker.ts";

const SETTINGS: BreakerSettings = { consecutiveFailures: 3, failureRate: 0.5, minimumAttempts: 10, coolDownMs: 1_000 };

function breaker(settings: Partial<BreakerSettings> = {}) {
  const clock = { time: 1_000_000, now() { return this.time; } };
  return { clock, circuit: new CircuitBreaker({ ...SETTINGS, ...settings }, { clock }) };
}

describe("CircuitBreaker", () => {
  it("opens after N failed attempts in a row, and not before", () => {
    const { circuit } = breaker();
    circuit.recordAttempt("retryable_error");
    circuit.recordAttempt("timeout");
    expect(circuit.state).toBe("closed");
    expect(circuit.admit()).toBe("pass");
    circuit.recordAttempt("operator_error");
    expect(circuit.state).toBe("open");
    expect(circuit.admit()).toBe("skip");
  });

  it("starts the count again after a success", () => {
    const { circuit } = breaker();
    circuit.recordAttempt("retryable_error");
    circuit.recordAttempt("retryable_error");
    circuit.recordAttempt("success");
    circuit.recordAttempt("retryable_error");
    circuit.recordAttempt("retryable_error");
    expect(circuit.state).toBe("closed");
  });

  it("counts neither refusals nor cancellations against the upstream", () => {
    const { circuit } = breaker({ consecutiveFailures: 2, minimumAttempts: 2, failureRate: 1 });
    for (const outcome of ["content_policy", "canceled", "provider_error", "invalid_output", "canceled"] as const) circuit.recordAttempt(outcome);
    expect(circuit.state).toBe("closed");
    expect(circuit.snapshot()).toMatchObject({ consecutiveFailures: 0, recentFailures: 0 });
  });

  it("opens when the failures of the last minimumAttempts attempts reach the rate", () => {
    const { circuit } = breaker({ consecutiveFailures: 100 });
    // Alternating: never two failures in a row, half of the window failed once it is full.
    for (let index = 0; index < 9; index += 1) circuit.recordAttempt(index % 2 === 0 ? "success" : "retryable_error");
    expect(circuit.state).toBe("closed");
    circuit.recordAttempt("retryable_error");
    expect(circuit.state).toBe("open");
  });

  it("judges the rate over a sliding window of the last attempts", () => {
    const { circuit } = breaker({ consecutiveFailures: 100 });
    for (let index = 0; index < 4; index += 1) circuit.recordAttempt("retryable_error");
    for (let index = 0; index < 20; index += 1) circuit.recordAttempt("success");
    expect(circuit.snapshot()).toMatchObject({ recentAttempts: 10, recentFailures: 0 });
    expect(circuit.state).toBe("closed");
  });

  it("is half-open after the cool-down and admits exactly one probe", () => {
    const { circuit, clock } = breaker();
    for (let index = 0; index < 3; index += 1) circuit.recordAttempt("retryable_error");
    expect(circuit.snapshot()).toMatchObject({ state: "open", nextProbeAt: clock.time + 1_000 });
    clock.time += 999;
    expect(circuit.admit()).toBe("skip");
    clock.time += 1;
    expect(circuit.state).toBe("half-open");
    expect(circuit.admit()).toBe("probe");
    expect(circuit.admit()).toBe("skip");
    expect(circuit.admit()).toBe("skip");
    expect(circuit.snapshot()).toMatchObject({ state: "half-open", probing: true });
  });

  it("closes when the probe succeeds, with fresh counts", () => {
    const { circuit, clock } = breaker();
    for (let index = 0; index < 3; index += 1) circuit.recordAttempt("retryable_error");
    clock.time += 1_000;
    expect(circuit.admit()).toBe("probe");
    // Attempts while not closed decide nothing: the probe's outcome does.
    circuit.recordAttempt("retryable_error");
    circuit.probeEnded("success");
    expect(circuit.snapshot()).toMatchObject({ state: "closed", since: clock.time, nextProbeAt: null, consecutiveFailures: 0, recentAttempts: 0 });
    expect(circuit.admit()).toBe("pass");
  });

  it("opens again for a whole cool-down when the probe fails", () => {
    const { circuit, clock } = breaker();
    for (let index = 0; index < 3; index += 1) circuit.recordAttempt("retryable_error");
    clock.time += 1_500;
    expect(circuit.admit()).toBe("probe");
    circuit.probeEnded("timeout");
    expect(circuit.snapshot()).toMatchObject({ state: "open", since: clock.time, nextProbeAt: clock.time + 1_000, probing: false });
    expect(circuit.admit()).toBe("skip");
    clock.time += 1_000;
    expect(circuit.admit()).toBe("probe");
  });

  it("frees the probe for another task when the probe task was canceled", () => {
    const { circuit, clock } = breaker();
    for (let index = 0; index < 3; index += 1) circuit.recordAttempt("retryable_error");
    clock.time += 1_000;
    expect(circuit.admit()).toBe("probe");
    circuit.probeEnded("canceled");
    expect(circuit.state).toBe("half-open");
    expect(circuit.admit()).toBe("probe");
  });

  it("lets a route probe an open circuit early when every circuit of the route is open", () => {
    const { circuit } = breaker();
    for (let index = 0; index < 3; index += 1) circuit.recordAttempt("retryable_error");
    expect(circuit.forceProbe()).toBe("probe");
    circuit.probeEnded("success");
    expect(circuit.state).toBe("closed");
  });

  it("tells of each change of state", () => {
    const changes: string[] = [];
    const clock = { time: 0, now() { return this.time; } };
    const circuit = new CircuitBreaker(SETTINGS, { clock, onChange: (state) => changes.push(state) });
    for (let index = 0; index < 3; index += 1) circuit.recordAttempt("retryable_error");
    clock.time = 1_000;
    circuit.admit();
    circuit.probeEnded("success");
    expect(changes).toEqual(["open", "closed"]);
  });
});
