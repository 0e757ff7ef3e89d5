import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { TaskService } from "../domain/tasks/task-service.ts";
import type { Task } from "../domain/tasks/task.ts";

export interface QueueGauges {
  readonly runningCount: number;
  readonly waitingCount: number;
}

/** Seconds from createTime to completeTime: image models take seconds to minutes. */
const DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600];

/** Tasks created and settled by model, how long they took, and the queue of this process. */
export class TaskMetrics {
  /** Counted in a plain map: createTask is the benchmarked path, and this costs it no label hashing. */
  private readonly createdByModel = new Map<string, number>();
  private peakRunning = 0;

  constructor(registry: Registry, queue: QueueGauges, tasks: TaskService) {
    const createdByModel = this.createdByModel;
    new Counter({
      name: "imagegate_tasks_created_total",
      help: "Tasks accepted by this process, by model.",
      labelNames: ["model"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [model, count] of createdByModel) this.inc({ model }, count);
      },
    });
    const settled = new Counter({
      name: "imagegate_tasks_settled_total",
      help: "Tasks this process settled, by model, final state and (for failures) failCode.",
      labelNames: ["model", "state", "fail_code"],
      registers: [registry],
    });
    const duration = new Histogram({
      name: "imagegate_task_duration_seconds",
      help: "Time from a task's creation to its completion, by model and final state.",
      labelNames: ["model", "state"],
      buckets: DURATION_BUCKETS,
      registers: [registry],
    });
    const peak = (): number => this.peakRunning;
    new Gauge({
      name: "imagegate_tasks_running",
      help: "Tasks a worker of this process is running now.",
      registers: [registry],
      collect() {
        this.set(queue.runningCount);
      },
    });
    new Gauge({
      name: "imagegate_tasks_running_peak",
      help: "Most tasks running at once since the server started.",
      registers: [registry],
      collect() {
        this.set(peak());
      },
    });
    new Gauge({
      name: "imagegate_tasks_waiting",
      help: "Tasks queued in this process for a free worker (0 where the queue is shared, in Redis).",
      registers: [registry],
      collect() {
        this.set(queue.waitingCount);
      },
    });

    tasks.onChange((task: Task, event) => {
      if (event === "created") this.createdByModel.set(task.model, (this.createdByModel.get(task.model) ?? 0) + 1);
      if (task.state === "success" || task.state === "fail") {
        settled.inc(
          task.state === "success"
            ? { model: task.model, state: task.state }
            : { model: task.model, state: task.state, fail_code: task.failCode ?? "INTERNAL" },
        );
        if (task.completeTime !== null) {
          duration.observe({ model: task.model, state: task.state }, Math.max(0, task.completeTime - task.createTime) / 1000);
        }
      }
      this.peakRunning = Math.max(this.peakRunning, queue.runningCount);
    });
  }
}
