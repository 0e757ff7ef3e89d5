import { Counter, Gauge, type Registry } from "prom-client";
import type { UpstreamDirectory } from "../providers/routing/upstream-routing.ts";

/** The circuit states as the gauge's values. */
const CIRCUIT_VALUES = { closed: 0, open: 1, "half-open": 2 } as const;

/**
 * Each upstream's circuit, what is in flight and the tasks it served, read from the upstreams'
 * figures when scraped. Attempts and their outcomes are imagegate_upstream_call_duration_seconds'
 * (label provider = the upstream's name).
 */
export class RoutingMetrics {
  #directory: UpstreamDirectory | null = null;

  constructor(registry: Registry) {
    const upstreams = () => this.#directory?.upstreams() ?? [];
    new Gauge({
      name: "imagegate_upstream_circuit_state",
      help: "Circuit breaker state per upstream: 0 closed, 1 open (skipped), 2 half-open (one probe admitted).",
      labelNames: ["upstream"],
      registers: [registry],
      collect() {
        this.reset();
        for (const upstream of upstreams()) {
          if (upstream.circuit !== null) this.set({ upstream: upstream.name }, CIRCUIT_VALUES[upstream.circuit.state]);
        }
      },
    });
    new Gauge({
      name: "imagegate_upstream_in_flight",
      help: "Tasks on each upstream now (calling it or waiting for one of its maxConcurrency slots).",
      labelNames: ["upstream"],
      registers: [registry],
      collect() {
        this.reset();
        for (const upstream of upstreams()) this.set({ upstream: upstream.name }, upstream.inFlight);
      },
    });
    new Gauge({
      name: "imagegate_upstream_max_concurrency",
      help: "Each upstream's maxConcurrency: upstream calls in flight at once in this process.",
      labelNames: ["upstream"],
      registers: [registry],
      collect() {
        this.reset();
        for (const upstream of upstreams()) this.set({ upstream: upstream.name }, upstream.maxConcurrency);
      },
    });
    new Counter({
      name: "imagegate_upstream_tasks_total",
      help: "Tasks per upstream by result: served (its image), failed (tried, no image from it), skipped (circuit open).",
      labelNames: ["upstream", "result"],
      registers: [registry],
      collect() {
        this.reset();
        for (const upstream of upstreams()) {
          this.inc({ upstream: upstream.name, result: "served" }, upstream.tasksServed);
          this.inc({ upstream: upstream.name, result: "failed" }, upstream.tasksFailed);
          this.inc({ upstream: upstream.name, result: "skipped" }, upstream.tasksSkipped);
        }
      },
    });
  }

  watch(directory: UpstreamDirectory): void {
    this.#directory = directory;
  }
}
