import { describe, expect, it } from "vitest";
import { ProviderError, type ImageRequest } from "../../src/providers/image-provider.ts";
import { CircuitBreaker, type BreakerSettings } from "../../src/providers/routing/circuit-breaker.ts";
import { RoutedImageProvider, weightedOrder, type RouteMember, type RoutePolicy } from "../../src/providers/routing/routed-image-provider.ts";
import { UpstreamStats } from "../../src/providers/routing/upstream-stats.ts";
import { ScriptedImageProvider, scriptedImage, type ScriptedOutcome } from "../fakes/scripted-image-provider.ts";

const BREAKER: BreakerSettings = { consecutiveFailures: 2, failureRate: 1, minimumAttempts: 100, coolDownMs: 1_000 };

function request(overrides: Partial<ImageRequest> = {}): ImageRequest {
  return {
    taskId: "task_unit",
    model: "nano-banana-pro",
    prompt: "p",
    aspectRatio: "1:1",
    safetyChecking: true,
    signal: new AbortController().signal,
    deadline: Date.now() + 600_000,
    ...overrides,
  };
}

const unavailable = () => new ProviderError({ code: "PROVIDER_ERROR", message: "unavailable", retryable: true });

interface TestMember extends RouteMember {
  provider: ScriptedImageProvider;
}

const clock = { time: 1_000_000, now() { return this.time; } };

/** An upstream whose attempts reach its breaker, as its meter does in the server. */
function member(name: string, script: ScriptedOutcome[] = [], weight = 1, fallback?: ScriptedOutcome): TestMember {
  const breaker = new CircuitBreaker(BREAKER, { clock });
  const scripted = new ScriptedImageProvider(name, script, fallback ?? scriptedImage(name));
  const provider = Object.assign(scripted, {
    generate: async (req: ImageRequest) => {
      try {
        const output = await ScriptedImageProvider.prototype.generate.call(scripted, req);
        breaker.recordAttempt("success");
        return output;
      } catch (error) {
        breaker.recordAttempt(error instanceof ProviderError && error.code === "CONTENT_POLICY" ? "content_policy" : "retryable_error");
        throw error;
      }
    },
  });
  return { name, provider, breaker, stats: new UpstreamStats(), weight };
}

function route(members: RouteMember[], policy: RoutePolicy = "failover", random: () => number = Math.random): RoutedImageProvider {
  return new RoutedImageProvider(members, { model: "nano-banana-pro", policy, clock, random });
}

describe("RoutedImageProvider", () => {
  it("fails over in the configured order, running onStart once and each later call as a retry", async () => {
    const first = member("first", [unavailable()]);
    const second = member("second", [unavailable()]);
    const third = member("third");
    const heard: string[] = [];

    const output = await route([first, second, third]).generate(
      request({ onStart: async () => void heard.push("start"), onRetry: async () => void heard.push("retry") }),
    );

    expect(output).toEqual(scriptedImage("third"));
    expect([first, second, third].map((each) => each.provider.calls.length)).toEqual([1, 1, 1]);
    expect(heard).toEqual(["start", "retry", "retry"]);
    expect(first.stats.figures()).toMatchObject({ tasksFailed: 1, tasksServed: 0, inFlight: 0 });
    expect(third.stats.figures()).toMatchObject({ tasksServed: 1 });
  });

  it.each([
    ["CONTENT_POLICY", new ProviderError({ code: "CONTENT_POLICY", message: "refused", retryable: true })],
    ["a non-retryable failure", new ProviderError({ code: "PROVIDER_ERROR", message: "rejected" })],
    ["CANCELED", new ProviderError({ code: "CANCELED", message: "canceled", retryable: true })],
    ["the task's TIMEOUT", new ProviderError({ code: "TIMEOUT", message: "late", retryable: true })],
    ["an error that is not a ProviderError", new Error("bug")],
  ])("does not fall back on %s", async (_label, error) => {
    const first = member("first", [error]);
    const second = member("second");
    await expect(route([first, second]).generate(request())).rejects.toBe(error);
    expect(second.provider.calls).toHaveLength(0);
  });

  it("falls back when the upstream is misconfigured (a rejected key)", async () => {
    const first = member("first", [new ProviderError({ code: "PROVIDER_ERROR", message: "bad key", operatorError: true })]);
    const second = member("second");
    await expect(route([first, second]).generate(request())).resolves.toEqual(scriptedImage("second"));
  });

  it("does not fall back once the task's deadline passed", async () => {
    const first = member("first", [unavailable()]);
    const second = member("second");
    await expect(route([first, second]).generate(request({ deadline: clock.time - 1 }))).rejects.toThrow("unavailable");
    expect(second.provider.calls).toHaveLength(0);
  });

  it("gives the last upstream's failure when every upstream failed", async () => {
    const last = new ProviderError({ code: "PROVIDER_ERROR", message: "last", retryable: true });
    await expect(route([member("first", [unavailable()]), member("second", [last])]).generate(request())).rejects.toBe(last);
  });

  it("skips an upstream whose circuit is open without calling it", async () => {
    const first = member("first", [unavailable(), unavailable()]);
    const second = member("second");
    const routed = route([first, second]);
    await routed.generate(request());
    await routed.generate(request());
    expect(first.breaker.state).toBe("open");

    for (let task = 0; task < 5; task += 1) await routed.generate(request());
    expect(first.provider.calls).toHaveLength(2);
    expect(second.provider.calls).toHaveLength(7);
    expect(first.stats.figures().tasksSkipped).toBe(5);
  });

  it("sends one probe after the cool-down, and traffic back once it succeeds", async () => {
    const first = member("first", [unavailable(), unavailable()]);
    const second = member("second");
    const routed = route([first, second]);
    await routed.generate(request());
    await routed.generate(request());
    clock.time += BREAKER.coolDownMs;

    // Two tasks at once: one probes the first upstream, the other is kept off it.
    let releaseProbe: () => void = () => undefined;
    first.provider.calls.length = 0;
    const probeOutput = new Promise<void>((resolve) => (releaseProbe = resolve)).then(() => scriptedImage("first"));
    const originalGenerate = first.provider.generate;
    first.provider.generate = async (req) => {
      first.provider.calls.push(req);
      await probeOutput;
      first.breaker.recordAttempt("success");
      return scriptedImage("first");
    };
    const probe = routed.generate(request({ taskId: "probe" }));
    const other = await routed.generate(request({ taskId: "other" }));
    expect(other).toEqual(scriptedImage("second"));
    expect(first.provider.calls.map((call) => call.taskId)).toEqual(["probe"]);
    releaseProbe();
    await expect(probe).resolves.toEqual(scriptedImage("first"));
    expect(first.breaker.state).toBe("closed");

    first.provider.generate = originalGenerate;
    await expect(routed.generate(request())).resolves.toEqual(scriptedImage("first"));
  });

  it("probes the upstream whose cool-down ends first when every circuit is open", async () => {
    const first = member("first", [unavailable(), unavailable()]);
    const second = member("second", [unavailable(), unavailable()]);
    const routed = route([first, second]);
    await expect(routed.generate(request())).rejects.toThrow();
    clock.time += 100;
    await expect(routed.generate(request())).rejects.toThrow();
    expect([first.breaker.state, second.breaker.state]).toEqual(["open", "open"]);
    // Both open; the first's cool-down ends 100 ms before the second's.
    const output = await routed.generate(request());
    expect(output).toEqual(scriptedImage("first"));
    expect(first.breaker.state).toBe("closed");
    expect(second.provider.calls).toHaveLength(2);
  });

  it("never runs a task on two upstreams at once", async () => {
    let running = 0;
    let most = 0;
    const slow = (name: string, fail: boolean): ScriptedOutcome => async () => {
      running += 1;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running -= 1;
      if (fail) throw unavailable();
      return scriptedImage(name);
    };
    const routed = route([member("a", [slow("a", true)]), member("b", [slow("b", true)]), member("c", [slow("c", false)])]);
    await routed.generate(request());
    expect(most).toBe(1);
  });

  it("spreads first tries by weight over 1,000 tasks, within tolerance", async () => {
    const heavy = member("heavy", [], 3);
    const light = member("light", [], 1);
    const routed = route([heavy, light], "weighted");
    for (let task = 0; task < 1_000; task += 1) await routed.generate(request());
    const share = heavy.provider.calls.length / 1_000;
    expect(share).toBeGreaterThan(0.7);
    expect(share).toBeLessThan(0.8);
    expect(heavy.provider.calls.length + light.provider.calls.length).toBe(1_000);
  });

  it("fails over through the rest of a weighted route", async () => {
    const first = member("first", [unavailable()], 1);
    const second = member("second", [], 1);
    // A draw of 0 picks the first upstream first.
    const output = await route([first, second], "weighted", () => 0).generate(request());
    expect(output).toEqual(scriptedImage("second"));
  });

  it("draws a weighted order without repeats, zero weights last", () => {
    const order = weightedOrder([{ weight: 0, id: "z" }, { weight: 1, id: "a" }, { weight: 2, id: "b" }], () => 0.99);
    expect(order.map((item) => item.id)).toEqual(["b", "a", "z"]);
  });

  it("is unhealthy only when every upstream's circuit is open", async () => {
    const first = member("first", [unavailable(), unavailable()]);
    const second = member("second");
    const routed = route([first, second]);
    await routed.generate(request());
    await routed.generate(request());
    expect(routed.health()).toEqual({ ok: true });
    second.breaker.recordAttempt("retryable_error");
    second.breaker.recordAttempt("retryable_error");
    expect(routed.health()).toMatchObject({ ok: false });
  });
});
