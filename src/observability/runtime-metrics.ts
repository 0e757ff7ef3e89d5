import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import type { TaskService } from "../domain/tasks/task-service.ts";
import type { Task } from "../domain/tasks/task.ts";

export interface QueueGauges {
  readonly runningCount: number;
  readonly waitingCount: number;
}

export interface CommitCounters {
  readonly commits: number;
  readonly writes: number;
  /** Milliseconds the event loop spent running write groups. */
  readonly busyMs: number;
  /** Flushes of the write-ahead log made off the event loop, and their milliseconds. */
  readonly syncs: number;
  readonly syncMs: number;
  /** Checkpoints made off the event loop, their milliseconds, and the log's frames after the last commit. */
  readonly checkpoints: number;
  readonly checkpointMs: number;
  /** Checkpoints of a long log's last frames on the event loop, and their milliseconds. */
  readonly restartCheckpoints: number;
  readonly restartCheckpointMs: number;
  readonly logFrames: number;
}

/**
 * What an operator watches on one process, in the Prometheus text format: memory, event-loop
 * delay, the queue, and how tasks ended.
 */
export class RuntimeMetrics {
  private readonly eventLoopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private readonly settled = new Map<string, number>();
  private created = 0;
  private peakInFlight = 0;

  constructor(
    private readonly queue: QueueGauges,
    tasks: TaskService,
    private readonly database: () => CommitCounters,
  ) {
    tasks.onChange((task: Task, event) => {
      if (event === "created") this.created += 1;
      if (task.state === "success" || task.state === "fail") {
        const key = task.state === "success" ? "success" : `fail:${task.failCode ?? "INTERNAL"}`;
        this.settled.set(key, (this.settled.get(key) ?? 0) + 1);
      }
      this.peakInFlight = Math.max(this.peakInFlight, this.queue.runningCount);
    });
  }

  start(): void {
    this.eventLoopDelay.enable();
  }

  stop(): void {
    this.eventLoopDelay.disable();
  }

  render(): string {
    const memory = process.memoryUsage();
    const seconds = (nanoseconds: number): string => (nanoseconds / 1e9).toFixed(6);
    const database = this.database();
    const lines = [
      ...metric("imagegate_process_resident_memory_bytes", "gauge", "Resident set size of this process.", memory.rss),
      "# HELP imagegate_event_loop_delay_seconds Event-loop delay since the server started.",
      "# TYPE imagegate_event_loop_delay_seconds summary",
      `imagegate_event_loop_delay_seconds{quantile="0.5"} ${seconds(this.eventLoopDelay.percentile(50))}`,
      `imagegate_event_loop_delay_seconds{quantile="0.99"} ${seconds(this.eventLoopDelay.percentile(99))}`,
      `imagegate_event_loop_delay_seconds{quantile="1"} ${seconds(this.eventLoopDelay.max)}`,
      ...metric("imagegate_tasks_running", "gauge", "Tasks a worker of this process is running now.", this.queue.runningCount),
      ...metric("imagegate_tasks_running_peak", "gauge", "Most tasks running at once since the server started.", this.peakInFlight),
      ...metric("imagegate_tasks_waiting", "gauge", "Tasks queued in this process for a free worker.", this.queue.waitingCount),
      ...metric("imagegate_database_commits_total", "counter", "Write groups committed, each in one transaction.", database.commits),
      ...metric(
        "imagegate_database_writes_total",
        "counter",
        "Writes carried by those commits (group commit shares one among many).",
        database.writes,
      ),
      ...metric(
        "imagegate_database_commit_seconds_total",
        "counter",
        "Time the event loop spent running write groups.",
        (database.busyMs / 1000).toFixed(3),
      ),
      ...metric(
        "imagegate_database_syncs_total",
        "counter",
        "Flushes of the write-ahead log to disk, off the event loop; one serves every group committed while the previous one ran.",
        database.syncs,
      ),
      ...metric("imagegate_database_sync_seconds_total", "counter", "Time spent in those flushes.", (database.syncMs / 1000).toFixed(3)),
      ...metric(
        "imagegate_database_checkpoints_total",
        "counter",
        "Checkpoints of the write-ahead log into the database file, made off the event loop.",
        database.checkpoints,
      ),
      ...metric(
        "imagegate_database_checkpoint_seconds_total",
        "counter",
        "Time spent in those checkpoints.",
        (database.checkpointMs / 1000).toFixed(3),
      ),
      ...metric(
        "imagegate_database_log_restart_checkpoints_total",
        "counter",
        "Checkpoints of a long log's last pages on the event loop, so that the log starts over.",
        database.restartCheckpoints,
      ),
      ...metric(
        "imagegate_database_log_restart_checkpoint_seconds_total",
        "counter",
        "Time the event loop spent in those checkpoints.",
        (database.restartCheckpointMs / 1000).toFixed(3),
      ),
      ...metric(
        "imagegate_database_log_frames",
        "gauge",
        "Pages in the write-ahead log after the last commit; it starts over once a checkpoint has copied them all.",
        database.logFrames,
      ),
      ...metric("imagegate_tasks_created_total", "counter", "Tasks accepted by this process.", this.created),
      "# HELP imagegate_tasks_settled_total Tasks this process settled, by outcome.",
      "# TYPE imagegate_tasks_settled_total counter",
    ];
    for (const [key, count] of [...this.settled.entries()].sort()) {
      const [state, failCode] = key.split(":");
      const labels = failCode === undefined ? `state="${state ?? ""}"` : `state="${state ?? ""}",fail_code="${failCode}"`;
      lines.push(`imagegate_tasks_settled_total{${labels}} ${count}`);
    }
    return `${lines.join("\n")}\n`;
  }
}

/** One unlabelled metric in the Prometheus text format: its help, its type and its value. */
function metric(name: string, type: "gauge" | "counter", help: string, value: number | string): string[] {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`];
}
