import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import { Gauge, type Registry } from "prom-client";

/**
 * Event-loop delay since the server started, by quantile. prom-client's nodejs_eventloop_lag_*
 * start over at every scrape, so they cannot say how a whole run went; this does.
 */
export class EventLoopMetrics {
  private readonly delay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });

  constructor(registry: Registry) {
    const delay = this.delay;
    new Gauge({
      name: "imagegate_event_loop_delay_seconds",
      help: "Event-loop delay since the server started, by quantile (1 is the maximum).",
      labelNames: ["quantile"],
      registers: [registry],
      collect() {
        this.set({ quantile: "0.5" }, delay.percentile(50) / 1e9);
        this.set({ quantile: "0.99" }, delay.percentile(99) / 1e9);
        this.set({ quantile: "1" }, delay.max / 1e9);
      },
    });
  }

  start(): void {
    this.delay.enable();
  }

  stop(): void {
    this.delay.disable();
  }
}
