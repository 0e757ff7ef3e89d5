import { describe, expect, it } from "vitest";
import { ConcurrencyLimitedImageProvider, Semaphore } from "../../src/providers/concurrency-limited-image-provider.ts";
import { ProviderError, type ImageOutput, type ImageRequest } from "../../src/providers/image-provider.ts";
import { ScriptedImageProvider, scriptedImage } from "../fakes/scripted-image-provider.ts";

function request(overrides: Partial<ImageRequest> = {}): ImageRequest {
  return {
    taskId: "task_unit",
    model: "nano-banana-text-to-image",
    prompt: "p",
    aspectRatio: "1:1",
    safetyChecking: true,
    signal: new AbortController().signal,
    deadline: Date.now() + 600_000,
    ...overrides,
  };
}

/** An inner call that finishes only when the test says so. */
function gate(): { outcome: (request: ImageRequest) => Promise<ImageOutput>; open: () => void } {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    outcome: async () => {
      await opened;
      return scriptedImage();
    },
    open: () => open(),
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("Semaphore", () => {
  it("grants slots up to its limit, then in arrival order", async () => {
    const semaphore = new Semaphore(1);
    const signal = new AbortController().signal;
    const order: string[] = [];
    const giveUp = () => new Error("gave up");

    const first = await semaphore.acquire(signal, giveUp).slot;
    const second = semaphore.acquire(signal, giveUp).slot.then((release) => {
      order.push("second");
      return release;
    });
    const third = semaphore.acquire(signal, giveUp).slot.then((release) => {
      order.push("third");
      return release;
    });
    expect(semaphore.waiting).toBe(2);

    first();
    (await second)();
    (await third)();
    expect(order).toEqual(["second", "third"]);
    expect(semaphore.held).toBe(0);
  });

  it("ignores a second release of the same slot", async () => {
    const semaphore = new Semaphore(1);
    const release = await semaphore.acquire(new AbortController().signal, () => new Error("x")).slot;

    release();
    release();

    expect(semaphore.held).toBe(0);
  });
});

describe("ConcurrencyLimitedImageProvider", () => {
  it("lets at most maxConcurrency calls into the inner provider", async () => {
    const gates = [gate(), gate(), gate()];
    const inner = new ScriptedImageProvider("stub", gates.map((entry) => entry.outcome));
    const limited = new ConcurrencyLimitedImageProvider(inner, { maxConcurrency: 2 });

    const generations = gates.map(() => limited.generate(request()));
    await tick();
    expect(inner.calls).toHaveLength(2);
    expect(limited.load).toEqual({ active: 2, waiting: 1 });

    gates[0]?.open();
    await generations[0];
    await tick();
    expect(inner.calls).toHaveLength(3);
    gates[1]?.open();
    gates[2]?.open();
    await Promise.all(generations);
    expect(limited.load).toEqual({ active: 0, waiting: 0 });
  });

  it("frees the slot when the inner call fails", async () => {
    const failure = new ProviderError({ code: "PROVIDER_ERROR", message: "m", retryable: true });
    const limited = new ConcurrencyLimitedImageProvider(new ScriptedImageProvider("stub", [failure]), {
      maxConcurrency: 1,
    });

    await expect(limited.generate(request())).rejects.toBe(failure);
    await limited.generate(request());
    expect(limited.load.active).toBe(0);
  });

  it("lets a waiting task be canceled (CANCELED) without calling the inner provider", async () => {
    const held = gate();
    const inner = new ScriptedImageProvider("stub", [held.outcome]);
    const limited = new ConcurrencyLimitedImageProvider(inner, { maxConcurrency: 1 });
    const controller = new AbortController();

    const running = limited.generate(request());
    const waiting = limited.generate(request({ signal: controller.signal }));
    controller.abort();

    await expect(waiting).rejects.toMatchObject({ code: "CANCELED" });
    expect(limited.load.waiting).toBe(0);
    held.open();
    await running;
    expect(inner.calls).toHaveLength(1);
  });

  it("answers TIMEOUT when the waiting task's signal aborts with a TimeoutError", async () => {
    const held = gate();
    const limited = new ConcurrencyLimitedImageProvider(new ScriptedImageProvider("stub", [held.outcome]), {
      maxConcurrency: 1,
    });

    const running = limited.generate(request());
    const waiting = limited.generate(request({ signal: AbortSignal.timeout(10) }));

    await expect(waiting).rejects.toMatchObject({ code: "TIMEOUT" });
    held.open();
    await running;
  });

  it("gives up with TIMEOUT when the deadline passes while waiting", async () => {
    const held = gate();
    const limited = new ConcurrencyLimitedImageProvider(new ScriptedImageProvider("stub", [held.outcome]), {
      maxConcurrency: 1,
    });

    const running = limited.generate(request());
    const waiting = limited.generate(request({ deadline: Date.now() + 20 }));

    await expect(waiting).rejects.toMatchObject({ code: "TIMEOUT" });
    expect(limited.load.waiting).toBe(0);
    held.open();
    await running;
  });
});
