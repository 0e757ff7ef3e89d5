import { Registry } from "prom-client";
import type { TaskService } from "../domain/tasks/task-service.ts";
import { CallbackMetrics } from "./callback-metrics.ts";
import { registerDatabaseMetrics, type CommitCounters } from "./database-metrics.ts";
import { EventLoopMetrics } from "./event-loop-metrics.ts";
import { HttpRequestMetrics } from "./http-metrics.ts";
import { defaultProcessMetrics } from "./process-metrics.ts";
import { TaskMetrics, type QueueGauges } from "./task-metrics.ts";
import { UpstreamMetrics } from "./upstream-metrics.ts";
import type { UpstreamDirectory } from "../providers/routing/upstream-routing.ts";
import { RoutingMetrics } from "./routing-metrics.ts";

/**
 * What an operator watches on one server, in the Prometheus text format: the process and Node.js
 * (prom-client's defaults), HTTP requests, tasks and the queue, upstream calls, callbacks and the
 * database. One registry per server, not prom-client's global one, so that several servers in one
 * process (the tests) each count their own.
 */
export class RuntimeMetrics {
  private readonly registry = new Registry();
  readonly http: HttpRequestMetrics;
  readonly upstream: UpstreamMetrics;
  readonly callbacks: CallbackMetrics;
  private readonly eventLoop: EventLoopMetrics;
  private readonly routing: RoutingMetrics;

  constructor(queue: QueueGauges, tasks: TaskService, database: () => CommitCounters) {
    for (const metric of defaultProcessMetrics()) this.registry.registerMetric(metric);
    this.eventLoop = new EventLoopMetrics(this.registry);
    this.http = new HttpRequestMetrics(this.registry);
    new TaskMetrics(this.registry, queue, tasks);
    this.upstream = new UpstreamMetrics(this.registry);
    this.routing = new RoutingMetrics(this.registry);
    this.callbacks = new CallbackMetrics(this.registry);
    registerDatabaseMetrics(this.registry, database);
  }

  /** The upstreams whose circuits, in-flight tasks and served tasks are exposed; built after the metrics. */
  watchUpstreams(directory: UpstreamDirectory): void {
    this.routing.watch(directory);
  }

  start(): void {
    this.eventLoop.start();
  }

  stop(): void {
    this.eventLoop.stop();
  }

  /** The content type of the exposition, as the registry declares it. */
  get contentType(): string {
    return this.registry.contentType;
  }

  observeRequest(method: string, route: string | undefined, statusCode: number, seconds: number): void {
    this.http.observe(method, route, statusCode, seconds);
  }

  async render(): Promise<string> {
    return this.registry.metrics();
  }
}
