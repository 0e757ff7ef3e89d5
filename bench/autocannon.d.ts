// The part of autocannon 8's programmatic API the benchmarks use; the package ships no typings.
declare module "autocannon" {
  import type { EventEmitter } from "node:events";

  namespace autocannon {
    interface RequestDescription {
      method?: string;
      path?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
    }

    interface Request extends RequestDescription {
      /** Called before every request of a connection; returns the request to send. */
      setupRequest?: (request: RequestDescription, context: Record<string, unknown>) => RequestDescription;
    }

    interface Options {
      url: string;
      connections?: number;
      pipelining?: number;
      /** Seconds. */
      duration?: number;
      /** Seconds before a request counts as timed out. */
      timeout?: number;
      method?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      requests?: Request[];
    }

    interface Histogram {
      average: number;
      mean: number;
      stddev: number;
      min: number;
      max: number;
      total: number;
      p50: number;
      p90: number;
      p99: number;
    }

    interface Result {
      requests: Histogram & { sent: number };
      latency: Histogram;
      throughput: Histogram;
      /** Seconds. */
      duration: number;
      errors: number;
      timeouts: number;
      non2xx: number;
      "2xx": number;
      statusCodeStats: Record<string, { count: number }>;
    }

    interface Instance extends EventEmitter {
      stop(): void;
      on(event: "response", listener: (client: unknown, statusCode: number, responseBytes: number, responseTimeMs: number) => void): this;
      /** Every second: responses (of any status) and bytes in that second. */
      on(event: "tick", listener: (counts: { counter: number; bytes: number }) => void): this;
      on(event: string, listener: (...values: unknown[]) => void): this;
    }
  }

  function autocannon(options: autocannon.Options, callback: (error: Error | null, result: autocannon.Result) => void): autocannon.Instance;

  export = autocannon;
}
