/** The package ships no declarations; these are the shapes its README documents. */
declare module "parse-prometheus-text-format" {
  export interface ParsedSample {
    labels?: Record<string, string>;
    value?: string;
    buckets?: Record<string, string>;
    quantiles?: Record<string, string>;
    count?: string;
    sum?: string;
  }
  export interface ParsedFamily {
    name: string;
    help: string;
    type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
    metrics: ParsedSample[];
  }
  // eslint-disable-next-line no-restricted-syntax -- the package itself exports a default function
  export default function parsePrometheusTextFormat(text: string): ParsedFamily[];
}
