import { readFile } from "node:fs/promises";
import { sleep } from "./processes.ts";

interface CpuSnapshot {
  /** Jiffies the machine's CPUs spent busy, and in all, since boot (/proc/stat). */
  machineBusy: number;
  machineTotal: number;
  /** Jiffies of this process and of its children that have exited (/proc/self/stat). */
  ours: number;
}

/**
 * The fields of a /proc/<pid>/stat line from field 3 on, as numbers: they follow the command name,
 * which is in parentheses and may hold spaces.
 */
export function procStatFields(stat: string): number[] {
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
}

async function snapshot(): Promise<CpuSnapshot | null> {
  try {
    const [stat, self] = await Promise.all([readFile("/proc/stat", "utf8"), readFile("/proc/self/stat", "utf8")]);
    const times = (stat.split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already counted in user).
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = times;
    const busy = user + nice + system + irq + softirq + steal;
    const fields = procStatFields(self);
    // utime, stime, cutime, cstime are fields 14 to 17; the slice starts at field 3.
    const ours = (fields[11] ?? 0) + (fields[12] ?? 0) + (fields[13] ?? 0) + (fields[14] ?? 0);
    return { machineBusy: busy, machineTotal: busy + idle + iowait, ours };
  } catch {
    // Not Linux: no accounting.
    return null;
  }
}

/** Share of the machine's CPU (0..1) used between two snapshots by processes other than ours. */
function othersShare(before: CpuSnapshot, after: CpuSnapshot): number {
  const total = after.machineTotal - before.machineTotal;
  if (total <= 0) return 0;
  const others = after.machineBusy - before.machineBusy - (after.ours - before.ours);
  return Math.max(0, others / total);
}

/**
 * Counts the CPU that processes other than the benchmark and its children took while a scenario
 * ran: on a shared machine that is the first thing to look at when figures move between runs.
 * Read it after the scenario's processes have exited (their time is counted when they are reaped).
 */
export class ForeignCpuMeter {
  private constructor(private readonly start: CpuSnapshot | null) {}

  static async start(): Promise<ForeignCpuMeter> {
    return new ForeignCpuMeter(await snapshot());
  }

  /** Percent of the whole machine (all cores), or null where /proc is not available. */
  async percent(): Promise<number | null> {
    const end = await snapshot();
    if (this.start === null || end === null) return null;
    return othersShare(this.start, end) * 100;
  }
}

/**
 * Waits, up to `boundMs`, for a second in which other processes use less than `thresholdPercent`
 * of the machine; answers the share seen last, so the caller can say it did not quiet down.
 */
export async function waitForQuietMachine(thresholdPercent: number, boundMs: number): Promise<number | null> {
  const started = performance.now();
  let share: number | null = null;
  do {
    const before = await snapshot();
    await sleep(1_000);
    const after = await snapshot();
    if (before === null || after === null) return null;
    share = othersShare(before, after) * 100;
    if (share < thresholdPercent) return share;
  } while (performance.now() - started < boundMs);
  return share;
}
