/**
 * Progress lines: every line names its matrix point and the time since the
 * runner started, so a long run never waits in silence.
 */

const start = Date.now();

/** `m:ss` (or `h:mm:ss`) for a duration in milliseconds. */
export function duration(ms: number): string {
  const seconds = Math.round(ms / 1000);
  const clock = `${Math.floor(seconds / 60) % 60}:${String(seconds % 60).padStart(2, '0')}`;
  return seconds >= 3600 ? `${Math.floor(seconds / 3600)}:${clock.padStart(5, '0')}` : clock;
}

/** Print `[label elapsed] message`. */
export function say(label: string, message: string): void {
  console.log(`[${label} ${duration(Date.now() - start)}] ${message}`);
}
