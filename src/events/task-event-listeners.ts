import type { TaskEvent, TaskEventListener } from "../domain/tasks/events.ts";

/**
 * The listeners of one process. Each hears every event even when another throws: a failing
 * listener is reported, never a reason for the next one to miss a cancel.
 */
export class TaskEventListeners {
  private readonly listeners = new Set<TaskEventListener>();

  constructor(private readonly onError: (error: unknown) => void) {}

  add(listener: TaskEventListener): () => void {
    // A wrapper of its own, so the same function subscribed twice is two subscriptions.
    const entry: TaskEventListener = (event) => listener(event);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  deliver(event: TaskEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.onError(error);
      }
    }
  }
}
