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

/** One page of an account's own tasks, newest first: what the account's task list reads. */
export interface AccountTaskQuery {
  accountId: string;
  state?: TaskState;
  model?: string;
  /** Only tasks created before this one (ids sort by creation): the last task of the page before. */
  beforeId?: string;
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

/** Read-only queries for operators, and for accounts over their own tasks: listings and usage. */
export interface TaskReports {
  listTasks(filter: TaskFilter): Promise<Task[]>;
  /**
   * The account's tasks newest first, filtered, at most `limit`. Every page reads about as many
   * index entries as it answers, however many tasks the account has, whichever one filter is given.
   */
  listAccountTasks(query: AccountTaskQuery): Promise<Task[]>;
  usage(filter: Omit<TaskFilter, "state" | "limit">): Promise<UsageRow[]>;
}
