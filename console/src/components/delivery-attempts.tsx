import { formatDuration } from "../format.ts";
import type { DeliveryAttempt } from "../types.ts";

/** Attempts come seconds apart: their times show the seconds. */
const attemptTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** A callback delivery's attempts, oldest first: when, the receiver's status, how long, what went wrong. */
export function DeliveryAttempts({ attempts, label, empty }: { attempts: readonly DeliveryAttempt[]; label: string; empty: string }) {
  if (attempts.length === 0) return <p class="muted small">{empty}</p>;
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label={label}>
      <table class="delivery-attempts">
        <caption class="visually-hidden">{label}, oldest first</caption>
        <thead>
          <tr>
            <th scope="col" class="num">
              #
            </th>
            <th scope="col">Sent</th>
            <th scope="col">Status</th>
            <th scope="col" class="num">
              Duration
            </th>
            <th scope="col">Error</th>
          </tr>
        </thead>
        <tbody>
          {attempts.map((attempt, index) => (
            <tr key={`${attempt.at}-${index}`}>
              <td class="num">{index + 1}</td>
              <td class="nowrap">{attemptTime.format(attempt.at)}</td>
              <td>
                {attempt.status === null ? (
                  <span class="muted">no answer</span>
                ) : (
                  <span class={attempt.status >= 200 && attempt.status < 300 ? "status-ok" : "status-bad"}>HTTP {attempt.status}</span>
                )}
              </td>
              <td class="num">{formatDuration(attempt.durationMs)}</td>
              <td>{attempt.error ?? <span class="muted">—</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
