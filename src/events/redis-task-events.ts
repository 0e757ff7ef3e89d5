import { Redis } from "ioredis";
import type { TaskEvent, TaskEventListener, TaskEvents } from "../domain/tasks/events.ts";
import { closeRedis } from "../redis/connections.ts";
import { TaskEventListeners } from "./task-event-listeners.ts";

export interface RedisTaskEventsOptions {
  url: string;
  /** Namespaces the channel: `<prefix>:task-events`. */
  prefix: string;
  /** Hears of a listener that threw, a message that is not an event, and the connections' errors. */
  onError: (error: unknown) => void;
}

/**
 * Task changes over Redis pub/sub: one connection publishes, one subscribes to the channel and
 * hands each message to this process's listeners. A lost connection reconnects by itself and the
 * subscriber subscribes again (ioredis's autoResubscribe); what was published meanwhile is lost to
 * this process, which the port allows.
 */
export class RedisTaskEvents implements TaskEvents {
  private readonly listeners: TaskEventListeners;

  private constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly channel: string,
    private readonly onError: (error: unknown) => void,
  ) {
    this.listeners = new TaskEventListeners(onError);
    subscriber.on("message", (channel: string, message: string) => {
      if (channel === this.channel) this.receive(message);
    });
  }

  /** Connects both connections; resolves once subscribed, so nothing published after is missed. */
  static async connect(options: RedisTaskEventsOptions): Promise<RedisTaskEvents> {
    // Changes published together (a group commit's tasks) go to Redis in one write.
    const publisher = new Redis(options.url, { enableAutoPipelining: true });
    const subscriber = new Redis(options.url);
    for (const connection of [publisher, subscriber]) connection.on("error", options.onError);
    const events = new RedisTaskEvents(publisher, subscriber, `${options.prefix}:task-events`, options.onError);
    try {
      await subscriber.subscribe(events.channel);
    } catch (error) {
      await events.close();
      throw error;
    }
    return events;
  }

  async publish(event: TaskEvent): Promise<void> {
    await this.publisher.publish(this.channel, JSON.stringify(event));
  }

  subscribe(listener: TaskEventListener): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {
    await Promise.all([closeRedis(this.publisher), closeRedis(this.subscriber)]);
  }

  private receive(message: string): void {
    let event: TaskEvent;
    try {
      event = JSON.parse(message) as TaskEvent;
    } catch (error) {
      this.onError(error);
      return;
    }
    if (typeof event?.taskId !== "string" || typeof event.state !== "string") {
      this.onError(new Error(`not a task event on ${this.channel}: ${message.slice(0, 200)}`));
      return;
    }
    this.listeners.deliver(event);
  }
}
