import os from "node:os";
import { formatNumber, type ScenarioOutcome } from "./scenario.ts";
import type { TargetCheck } from "./targets.ts";

export interface MachineDescription {
  cpus: number;
  cpuModel: string;
  totalMemoryBytes: number;
  totalMemory: string;
  platform: string;
  release: string;
  nodeVersion: string;
}

export function describeMachine(): MachineDescription {
  const cpus = os.cpus();
  const totalMemoryBytes = os.totalmem();
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    totalMemoryBytes,
    totalMemory: `${(totalMemoryBytes / 1024 ** 3).toFixed(1)} GiB`,
    platform: os.platform(),
    release: os.release(),
    nodeVersion: process.version,
  };
}

/** Columns padded to their widest cell; numbers (and verdicts) are easier to scan aligned. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((width) => "-".repeat(width))), ...rows.map(line)].join("\n");
}

export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.map((cell) => cell.replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export function scenarioTable(outcome: ScenarioOutcome): string {
  if (outcome.table !== undefined) return textTable(outcome.table.header, outcome.table.rows);
  return textTable(
    ["figure", "value"],
    outcome.figures.map((figure) => [figure.label, formatNumber(figure.value, figure.unit)]),
  );
}

const TARGET_HEADER = ["target", "figure", "bound", "verdict", "margin"] as const;

function targetRows(checks: readonly TargetCheck[]): string[][] {
  return checks.map((check) => [check.name, check.figure, check.target, check.verdict, check.margin]);
}

export function targetTable(checks: readonly TargetCheck[]): string {
  return textTable(TARGET_HEADER, targetRows(checks));
}

export function targetMarkdown(checks: readonly TargetCheck[]): string {
  return markdownTable(TARGET_HEADER, targetRows(checks));
}
