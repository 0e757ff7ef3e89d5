import { readFile } from "node:fs/promises";
import { procStatFields } from "./machine-load.ts";
import type { Figure } from "./scenario.ts";

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** CPU a server process has used since it started, in milliseconds. */
export interface ServerCpu {
  /** The main thread alone: the event loop, where a request or task waits its turn. */
  eventLoopMs: number;
  /** Every thread: the event loop, the file-writing and log-flushing threads, the garbage collector's helpers, libuv's pool. */
  processMs: number;
}

function cpuMs(stat: string): number {
  // utime and stime are fields 14 and 15.
  const fields = procStatFields(stat);
  return (((fields[11] ?? 0) + (fields[12] ?? 0)) * 1000) / TICKS_PER_SECOND;
}

/** The server's CPU so far, from /proc; null where /proc is not available. */
export async function serverCpu(pid: number): Promise<ServerCpu | null> {
  try {
    // On Linux the main thread's id is the process id.
    const [thread, whole] = await Promise.all([
      readFile(`/proc/${pid}/task/${pid}/stat`, "utf8"),
      readFile(`/proc/${pid}/stat`, "utf8"),
    ]);
    return { eventLoopMs: cpuMs(thread), processMs: cpuMs(whole) };
  } catch {
    return null;
  }
}

/**
 * The server's CPU per task between two readings. It is no capacity figure: per task it falls as
 * the rate rises, since at low rates each commit, log flush and file write serves one task alone
 * and wakes an idle thread or process to do it.
 */
export function cpuPerTaskFigures(prefix: string, before: ServerCpu | null, after: ServerCpu | null, tasks: number): Figure[] {
  const per = (pick: (cpu: ServerCpu) => number): number | null =>
    before === null || after === null || tasks === 0 ? null : (pick(after) - pick(before)) / tasks;
  return [
    { key: `${prefix}.eventLoopCpuPerTask`, label: "server CPU per task, event-loop thread (/proc)", value: per((cpu) => cpu.eventLoopMs), unit: "ms" },
    { key: `${prefix}.processCpuPerTask`, label: "server CPU per task, all its threads", value: per((cpu) => cpu.processMs), unit: "ms" },
  ];
}
