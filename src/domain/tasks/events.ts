import type { FailCode, Task, TaskState } from "./task.ts";

/**
 * A task's change as every process hears of it: what its listeners decide on, not the task
 * itself. A worker aborts the upstream call of a task settled elsewhere (CANCELED or TIMEOUT), the
 * callback sender wakes for a terminal task with a callback, and a live stream re-reads the
 * record it shows, so no process answers from a copy another process may have outdated.
 */
export interface TaskEvent {
  taskId: string;
  accountId: string;
  state: TaskState;
  failCode: FailCode | null;
  /** The task has a callBackUrl, so its terminal change put a callback in the outbox. */
  hasCallback: boolean;
  updateTime: number;
}

export type TaskEventListener = (event: TaskEvent) => void;

/**
 * Task changes published to every process that subscribed, the publisher's own included. Delivery
 * is at most once and in order per publisher: a listener that must not miss a change (a stream
 * that follows a task) also re-reads now and then, since a change published while a process was
 * cut off from the others is lost to it.
 */
export interface TaskEvents {
  /** Resolves once the change is on its way to every subscriber. */
  publish(event: TaskEvent): Promise<void>;
  /** Returns the function that stops this listener's delivery. */
  subscribe(listener: TaskEventListener): () => void;
  close(): Promise<void>;
}

export function taskEventOf(task: Task): TaskEvent {
  return {
    taskId: task.id,
    accountId: task.accountId,
    state: task.state,
    failCode: task.failCode,
    hasCallback: task.callbackUrl !== null,
    updateTime: task.updateTime,
  };
}
