export type Unit = "req/s" | "ms" | "tasks" | "tasks/s" | "MiB" | "KiB" | "s" | "ratio" | "count" | "rows";

/** One measured figure of a scenario, as printed and as stored in results/latest.json. */
export interface Figure {
  key: string;
  label: string;
  value: number | null;
  unit: Unit;
}

export interface ScenarioOutcome {
  figures: Figure[];
  /** The figures arranged for reading side by side, printed instead of their list when given. */
  table?: { header: readonly string[]; rows: readonly (readonly string[])[] };
  /** What the reader needs to interpret the figures: settings, departures from the issue, anomalies. */
  notes: string[];
}

export interface ScenarioSettings {
  quick: boolean;
  /** Length of each measured closed-loop (autocannon) run, or of one server's rounds together when it alternates with another. */
  measureSeconds: number;
  /** Discarded run before each measurement, so the JIT and caches are warm. */
  warmupSeconds: number;
  connections: number;
  /** Extra node options for every imagegate server, e.g. --cpu-prof. */
  serverNodeArguments: readonly string[];
  /** Progress lines, printed as they happen. */
  progress: (message: string) => void;
}

export interface Scenario {
  name: string;
  title: string;
  run(settings: ScenarioSettings): Promise<ScenarioOutcome>;
}

export const MEBIBYTE = 1024 * 1024;

export function figureValue(outcome: ScenarioOutcome | undefined, key: string): number | null {
  return outcome?.figures.find((figure) => figure.key === key)?.value ?? null;
}

export function formatNumber(value: number | null, unit: Unit): string {
  if (value === null || Number.isNaN(value)) return "n/a";
  switch (unit) {
    case "ms":
      return `${value.toFixed(value < 10 ? 2 : 1)} ms`;
    case "ratio":
      return value.toFixed(2);
    case "MiB":
      return `${value.toFixed(0)} MiB`;
    case "KiB":
      return `${value.toFixed(1)} KiB`;
    case "s":
      return `${value.toFixed(1)} s`;
    case "req/s":
    case "tasks/s":
      return `${Math.round(value).toLocaleString("en-US")} ${unit}`;
    case "tasks":
    case "count":
    case "rows":
      return `${Math.round(value).toLocaleString("en-US")}${unit === "count" ? "" : ` ${unit}`}`;
  }
}
