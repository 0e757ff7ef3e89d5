import type { Logger } from "pino";
import type { Catalog } from "../domain/catalog/catalog.ts";
import type { ImageTaskInput } from "../domain/catalog/model.ts";
import type { Clock } from "../domain/clock.ts";
import type { TaskEvents } from "../domain/tasks/events.ts";
import type { FailCode, Task } from "../domain/tasks/task.ts";
import { isTerminal } from "../domain/tasks/task.ts";
import { CANCELED_MESSAGE, TIMEOUT_MESSAGE, type TaskService } from "../domain/tasks/task-service.ts";
import { processImage } from "../images/process-image.ts";
import { ProviderError } from "../providers/image-provider.ts";
import type { BlobStore } from "../storage/blob-store.ts";
import type { ResultUrls } from "../storage/result-urls.ts";
import { InputImageError, type InputImageLoader } from "./input-images.ts";
import type { ProviderRouter } from "./provider-router.ts";

export const INTERNAL_FAILURE_MESSAGE = "An internal error stopped the task; no credits were charged.";

/** Why a running task was aborted; the runner settles according to it. */
export class TaskAbort extends Error {
  constructor(readonly reason: "deadline" | "canceled" | "shutdown") {
    super(`task aborted: ${reason}`);
    this.name = reason === "deadline" ? "TimeoutError" : "AbortError";
  }
}

export interface TaskRunnerOptions {
  retentionMs: number;
}

export interface TaskRunnerParts {
  tasks: TaskService;
  /** Changes of tasks made by any process: a task settled elsewhere stops running here. */
  events: TaskEvents;
  catalog: Catalog;
  router: ProviderRouter;
  /** Fetches a task's reference images before the provider is called. */
  inputs: InputImageLoader;
  blobs: BlobStore;
  resultUrls: ResultUrls;
  clock: Clock;
  logger: Logger;
}

function dayOf(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 10);
}

/**
 * Runs one task: fetch its reference images, call the provider, check and convert the image,
 * store it, settle the task.
 */
export class TaskRunner {
  private readonly inFlight = new Map<string, AbortController>();

  constructor(
    private readonly parts: TaskRunnerParts,
    private readonly options: TaskRunnerOptions,
  ) {
    // A task settled elsewhere while running here (canceled, timed out by a sweep), by this
    // process or another: stop its upstream call at once rather than pay for an image nobody sees.
    parts.events.subscribe((event) => {
      if (isTerminal(event.state) && this.inFlight.has(event.taskId)) {
        this.abort(event.taskId, event.failCode === "TIMEOUT" ? "deadline" : "canceled");
      }
    });
  }

  /** Aborts a running task; the runner then settles it as the reason says. */
  abort(taskId: string, reason: TaskAbort["reason"]): boolean {
    const controller = this.inFlight.get(taskId);
    if (controller === undefined) return false;
    controller.abort(new TaskAbort(reason));
    return true;
  }

  /** Aborts every running task for shutdown: they stay non-terminal and a restart resumes them. */
  abortAll(): void {
    for (const taskId of this.inFlight.keys()) this.abort(taskId, "shutdown");
  }

  run = async (taskId: string): Promise<void> => {
    const { tasks, logger } = this.parts;
    const pickedUpAt = this.parts.clock.now();
    const task = await tasks.getById(taskId);
    if (task === null || isTerminal(task.state)) return;
    const log = logger.child({ taskId });
    if (this.parts.clock.now() >= task.deadlineTime) {
      await tasks.fail(taskId, "TIMEOUT", TIMEOUT_MESSAGE);
      return;
    }
    const controller = new AbortController();
    this.inFlight.set(taskId, controller);
    const timer = setTimeout(
      () => controller.abort(new TaskAbort("deadline")),
      Math.max(0, task.deadlineTime - this.parts.clock.now()),
    );
    try {
      await this.generate(task, controller.signal, log, pickedUpAt);
    } catch (error) {
      // An abort wins over whatever the provider made of it: its reason says how to settle.
      await this.settleFailure(task, controller.signal.aborted ? controller.signal.reason : error, log);
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(taskId);
    }
  };

  /** `pickedUpAt`: when this runner took the task, for the log's account of where the time went. */
  private async generate(task: Task, signal: AbortSignal, log: Logger, pickedUpAt: number): Promise<void> {
    const { tasks, router, catalog, inputs, blobs, resultUrls, clock } = this.parts;
    const model = catalog.find(task.model);
    const provider = router.providerFor(task);
    if (model === null || provider === null) {
      throw new Error(`no model or provider route for ${task.model}`);
    }
    const input = JSON.parse(task.input) as ImageTaskInput;
    // Before the provider: the task stays queuing, and an unusable input costs no upstream call.
    const images = await inputs.load(input.imageUrls ?? [], model.imagesField ?? "image_urls", signal);
    let started = false;
    const output = await provider.generate({
      taskId: task.id,
      model: task.model,
      prompt: input.prompt,
      aspectRatio: input.aspectRatio,
      resolution: input.resolution ?? "1K",
      images,
      googleSearch: input.googleSearch ?? false,
      safetyChecking: input.safetyChecking,
      signal,
      deadline: task.deadlineTime,
      onStart: async () => {
        if (started) return;
        started = true;
        // Counts this run's first upstream call too, in the same write.
        await tasks.start(task.id);
      },
      onRetry: () => tasks.countUpstreamAttempt(task.id),
      attemptsSpent: task.upstreamAttempts,
    });
    if (signal.aborted) throw signal.reason;
    // Null when nothing predicts the size (`auto` with reference images): any size is right.
    const expected = model.expectedSize(input);
    const processingFrom = clock.now();
    const image = await processImage(output.bytes, input.outputFormat, expected);
    if (!image.sizeMatches) {
      log.warn(
        { provider: provider.name, expected, actual: { width: image.width, height: image.height } },
        "image size differs from the ratio's table",
      );
    }
    const now = clock.now();
    const key = `${dayOf(now)}/${task.id}.${image.format === "jpeg" ? "jpg" : "png"}`;
    // The image is this task's own, and nothing reads it after this: the store may take it.
    await blobs.put(key, image.bytes, image.contentType, { handOver: true });
    const storeMs = clock.now() - now;
    const expiresAt = Math.floor((now + this.options.retentionMs) / 1000);
    const url = await resultUrls.issue(key, expiresAt);
    const settled = await tasks.succeed(task.id, [url]);
    if (settled === null) {
      // Someone else settled it first (canceled, timed out): this file belongs to no task.
      await blobs.delete(key);
      log.info("task was settled elsewhere; discarded its image");
    } else {
      // Where the time went: waiting to be picked up, the upstream call, checking and converting
      // the image, and storing it durably (the rest is the provider's own handling and the writes).
      log.info(
        {
          provider: provider.name,
          costTime: (settled.completeTime ?? now) - task.createTime,
          pickupMs: pickedUpAt - task.createTime,
          upstreamMs: output.upstreamMs,
          processMs: now - processingFrom,
          storeMs,
        },
        "task succeeded",
      );
    }
  }

  private async settleFailure(task: Task, error: unknown, log: Logger): Promise<void> {
    const { tasks } = this.parts;
    let code: FailCode;
    let message: string;
    const abort = error instanceof TaskAbort ? error : null;
    if (abort?.reason === "shutdown") {
      log.info("task left for recovery at shutdown");
      return;
    }
    if (abort?.reason === "deadline") {
      code = "TIMEOUT";
      message = TIMEOUT_MESSAGE;
    } else if (abort?.reason === "canceled") {
      code = "CANCELED";
      message = CANCELED_MESSAGE;
    } else if (error instanceof InputImageError) {
      code = "INPUT_IMAGE_ERROR";
      message = error.message;
      log.info({ failCode: code, reason: message }, "task failed on an input image");
    } else if (error instanceof ProviderError) {
      code = error.code;
      // One sentence per outcome, whichever timer noticed it first.
      message = code === "TIMEOUT" ? TIMEOUT_MESSAGE : code === "CANCELED" ? CANCELED_MESSAGE : error.message;
      log.warn({ failCode: code, detail: error.detail }, "task failed at the provider");
    } else {
      code = "INTERNAL";
      message = INTERNAL_FAILURE_MESSAGE;
      log.error({ err: error }, "task failed with an internal error");
    }
    await tasks.fail(task.id, code, message);
  }
}
