import type { Registry } from "prom-client";
import { SeriesHistogram, type HistogramSeries } from "./series-histogram.ts";

/** The route label of a request that matched no route: never its URL, which anyone can vary. */
export const UNMATCHED_ROUTE = "unmatched";

/** Seconds; prom-client's default buckets, which fit an API answering in milliseconds. */
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** `http_request_duration_seconds` by method, route pattern and status. */
export class HttpRequestMetrics {
  private readonly histogram: SeriesHistogram<"method" | "route" | "status_code">;
  private readonly byRoute = new Map<string, Map<string, Map<number, HistogramSeries>>>();

  constructor(registry: Registry) {
    this.histogram = new SeriesHistogram({
      name: "http_request_duration_seconds",
      help: "Time from receiving a request to answering it, by method, route pattern and status code.",
      labelNames: ["method", "route", "status_code"],
      buckets: BUCKETS,
      registry,
    });
  }

  /** `route` is the matched route's pattern, undefined when none matched. */
  observe(method: string, route: string | undefined, statusCode: number, seconds: number): void {
    // Nested maps rather than one joined key: the route and method strings are the same objects
    // on every request, so their hashes are cached, and nothing is built per request.
    const routeLabel = route ?? UNMATCHED_ROUTE;
    let byMethod = this.byRoute.get(routeLabel);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.byRoute.set(routeLabel, byMethod);
    }
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) {
      byStatus = new Map();
      byMethod.set(method, byStatus);
    }
    let series = byStatus.get(statusCode);
    if (series === undefined) {
      series = this.histogram.series(`${method} ${statusCode} ${routeLabel}`, {
        method,
        route: routeLabel,
        status_code: String(statusCode),
      });
      byStatus.set(statusCode, series);
    }
    series.observe(seconds);
  }
}
