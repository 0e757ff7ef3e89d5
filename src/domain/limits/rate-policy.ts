/** A count per window, written `N/Ws` (also `N/Wm`, `N/Wh`), e.g. `20/10s`. */
export interface RatePolicy {
  limit: number;
  windowSeconds: number;
}

const POLICY = /^(\d{1,9})\/(\d{1,7})([smh])$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600 } as const;

export function parseRatePolicy(text: string): RatePolicy | null {
  const match = POLICY.exec(text.trim());
  if (match === null) return null;
  const limit = Number(match[1]);
  const unit = match[3] as keyof typeof UNIT_SECONDS;
  const windowSeconds = Number(match[2]) * UNIT_SECONDS[unit];
  if (limit < 1 || windowSeconds < 1) return null;
  return { limit, windowSeconds };
}

export function formatRatePolicy(policy: RatePolicy): string {
  return `${policy.limit}/${policy.windowSeconds}s`;
}
