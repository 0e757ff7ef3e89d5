import type { Task, TaskState } from "./task.ts";

export interface TaskFilter {
  accountId?: string;
  state?: TaskState;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  limit: number;
}

export interface UsageRow {
  /** UTC day, YYYY-MM-DD, of the tasks' creation. */
  day: string;
  accountId: string;
  accountName: string;
  tasks: Record<TaskState, number>;
  /** Credits captured by the day's successful tasks. */
  creditsSpent: number;
  /** The day's tasks and credits spent per model. */
  models: Record<string, { tasks: number; creditsSpent: number }>;
}

/** Read-only queries for operators: listings and usage. */
export interface TaskReports {
  listTasks(filter: TaskFilter): Promise<Task[]>;
  usage(filter: Omit<TaskFilter, "state" | "limit">): Promise<UsageRow[]>;
}
