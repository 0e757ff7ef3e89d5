import { Histogram, type Registry } from "prom-client";
import type { UpstreamCall, UpstreamCallObserver } from "../providers/metered-image-provider.ts";

/** Seconds of one upstream attempt: an image takes seconds, a refusal or an error less. */
const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120];

/** `imagegate_upstream_call_duration_seconds` by provider, model and outcome; its count is the calls. */
export class UpstreamMetrics implements UpstreamCallObserver {
  private readonly histogram: Histogram<"provider" | "model" | "outcome">;

  constructor(registry: Registry) {
    this.histogram = new Histogram({
      name: "imagegate_upstream_call_duration_seconds",
      help: "Upstream image model attempts (retries included) and their duration, by provider, model and outcome.",
      labelNames: ["provider", "model", "outcome"],
      buckets: BUCKETS,
      registers: [registry],
    });
  }

  upstreamCallEnded(call: UpstreamCall): void {
    this.histogram.observe({ provider: call.provider, model: call.model, outcome: call.outcome }, call.seconds);
  }
}
