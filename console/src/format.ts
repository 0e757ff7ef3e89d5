// How the console writes numbers, times and sizes: one place, so every page reads alike.

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const number = new Intl.NumberFormat();

export function formatTime(epochMs: number | null | undefined): string {
  return epochMs === null || epochMs === undefined ? "—" : dateTime.format(epochMs);
}

/** "3 min ago", "2 h ago", then the date. */
export function formatAgo(epochMs: number | null | undefined, now = Date.now()): string {
  if (epochMs === null || epochMs === undefined) return "never";
  const seconds = Math.round((now - epochMs) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return formatTime(epochMs);
}

/** "in 25 s", "in 3 min": how long until a moment ahead; "now" once it has come. */
export function formatUntil(epochMs: number, now = Date.now()): string {
  const seconds = Math.ceil((epochMs - now) / 1000);
  if (seconds <= 0) return "now";
  if (seconds < 120) return `in ${seconds} s`;
  return `in ${Math.round(seconds / 60)} min`;
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function formatCredits(credits: number | null | undefined): string {
  return credits === null || credits === undefined ? "—" : `${number.format(credits)} ${Math.abs(credits) === 1 ? "credit" : "credits"}`;
}

export function formatNumber(value: number): string {
  return number.format(value);
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
