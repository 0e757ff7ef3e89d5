/** One sample of a Prometheus text exposition: `name{label="value"} 12.5`. */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const match = SAMPLE.exec(line);
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? "").matchAll(LABEL)) {
      labels[label[1] ?? ""] = label[2] ?? "";
    }
    samples.push({ name: match[1] ?? "", labels, value: Number(match[3]) });
  }
  return samples;
}

/** The figures of imagegate's GET /metrics the benchmarks read. */
export interface ServerMetrics {
  residentMemoryBytes: number;
  eventLoopDelayP99Seconds: number;
  eventLoopDelayMaxSeconds: number;
  tasksRunning: number;
  tasksRunningPeak: number;
  tasksWaiting: number;
  tasksCreated: number;
  tasksSucceeded: number;
  tasksFailed: number;
  /** The database log's flushes (fdatasync of the WAL) and the seconds they took, since start. */
  databaseSyncs: number;
  databaseSyncSeconds: number;
  /** Checkpoints of the log: on the checkpointing thread, and of a long log's last pages on the event loop. */
  databaseCheckpoints: number;
  databaseRestartCheckpoints: number;
  databaseRestartCheckpointSeconds: number;
}

export function readServerMetrics(text: string): ServerMetrics {
  const samples = parsePrometheusText(text);
  const first = (name: string, labels: Record<string, string> = {}): number => {
    const found = samples.find(
      (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
    );
    return found?.value ?? 0;
  };
  const total = (name: string): number =>
    samples.filter((sample) => sample.name === name).reduce((sum, sample) => sum + sample.value, 0);
  const settled = samples.filter((sample) => sample.name === "imagegate_tasks_settled_total");
  return {
    residentMemoryBytes: first("process_resident_memory_bytes"),
    databaseSyncs: first("imagegate_database_syncs_total"),
    databaseSyncSeconds: first("imagegate_database_sync_seconds_total"),
    databaseCheckpoints: first("imagegate_database_checkpoints_total"),
    databaseRestartCheckpoints: first("imagegate_database_log_restart_checkpoints_total"),
    databaseRestartCheckpointSeconds: first("imagegate_database_log_restart_checkpoint_seconds_total"),
    eventLoopDelayP99Seconds: first("imagegate_event_loop_delay_seconds", { quantile: "0.99" }),
    eventLoopDelayMaxSeconds: first("imagegate_event_loop_delay_seconds", { quantile: "1" }),
    tasksRunning: first("imagegate_tasks_running"),
    tasksRunningPeak: first("imagegate_tasks_running_peak"),
    tasksWaiting: first("imagegate_tasks_waiting"),
    tasksCreated: total("imagegate_tasks_created_total"),
    tasksSucceeded: settled.filter((sample) => sample.labels.state === "success").reduce((sum, sample) => sum + sample.value, 0),
    tasksFailed: settled.filter((sample) => sample.labels.state === "fail").reduce((sum, sample) => sum + sample.value, 0),
  };
}
