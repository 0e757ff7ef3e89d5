// The shapes of the API's answers that the console reads (see /docs for all of them).

export type TaskState = "waiting" | "queuing" | "generating" | "success" | "fail";
export const TASK_STATES: readonly TaskState[] = ["waiting", "queuing", "generating", "success", "fail"];

/** recordInfo's data, and an item of GET /api/v1/jobs. */
export interface TaskRecord {
  taskId: string;
  model: string;
  state: TaskState;
  /** The createTask body as JSON text. */
  param: string;
  /** {"resultUrls": [...]} as JSON text, once the task succeeded. */
  resultJson: string | null;
  failCode: string | null;
  failMsg: string | null;
  costTime: number | null;
  completeTime: number | null;
  createTime: number;
  updateTime: number;
  creditsConsumed: number | null;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** An item of GET /api/v1/models. */
export interface ModelInfo {
  id: string;
  description: string;
  price: number;
  prices: Record<string, number>;
  inputSchema: { properties: Record<string, { description?: string; enum?: string[]; type?: string; maxItems?: number }>; required?: string[] };
  defaults: Record<string, unknown>;
  limits: {
    promptMaxCharacters: number;
    inputImages: { min: number; max: number; maxBytes?: number } | null;
    ratios: string[];
    resolutions: string[];
    ratiosOnlyAt1K: string[];
  };
  resultSizes: Record<string, Record<string, string>>;
}

export function resultUrls(task: Pick<TaskRecord, "resultJson">): string[] {
  if (task.resultJson === null) return [];
  try {
    const parsed = JSON.parse(task.resultJson) as { resultUrls?: unknown };
    return Array.isArray(parsed.resultUrls) ? parsed.resultUrls.filter((url): url is string => typeof url === "string") : [];
  } catch {
    return [];
  }
}

export function taskInput(task: Pick<TaskRecord, "param">): Record<string, unknown> {
  try {
    const parsed = JSON.parse(task.param) as { input?: unknown };
    return typeof parsed.input === "object" && parsed.input !== null ? (parsed.input as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

export type DeliveryState = "pending" | "delivered" | "failed";
export const DELIVERY_STATES: readonly DeliveryState[] = ["pending", "delivered", "failed"];

/** A task's callback delivery, as GET /api/v1/jobs/callbacks and the admin API answer it. */
export interface Delivery {
  id: string;
  taskId: string;
  url: string;
  state: DeliveryState;
  attempts: number;
  createdAt: number;
  updatedAt: number;
  nextAttemptAt: number | null;
  deliveredAt: number | null;
  lastStatus: number | null;
  lastError: string | null;
}

/** One POST of a callback to its URL. */
export interface DeliveryAttempt {
  at: number;
  /** The receiver's HTTP status; null when it did not answer. */
  status: number | null;
  durationMs: number;
  error: string | null;
}

/** A delivery with the body it sends and every attempt, oldest first. */
export interface DeliveryDetails<D extends Delivery = Delivery> {
  delivery: D & { payload: string };
  attempts: DeliveryAttempt[];
}

/** A movement of an account's balance, as GET /api/v1/ledger and the admin API answer it. */
export interface LedgerEntry {
  id: number;
  taskId: string | null;
  kind: "grant" | "deduct" | "hold" | "capture" | "release";
  amount: number;
  balanceAfter: number;
  reason: string | null;
  actor: string | null;
  createdAt: number;
}
