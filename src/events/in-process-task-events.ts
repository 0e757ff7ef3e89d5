import type { TaskEvent, TaskEventListener, TaskEvents } from "../domain/tasks/events.ts";
import { TaskEventListeners } from "./task-event-listeners.ts";

/** The embedded default: one process, so publishing is calling its listeners, at once and in order. */
export class InProcessTaskEvents implements TaskEvents {
  private readonly listeners: TaskEventListeners;

  /** `onError` hears of a listener that threw. */
  constructor(onError: (error: unknown) => void) {
    this.listeners = new TaskEventListeners(onError);
  }

  async publish(event: TaskEvent): Promise<void> {
    this.listeners.deliver(event);
  }

  subscribe(listener: TaskEventListener): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {}
}
