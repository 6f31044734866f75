/**
 * How much the hardening tests do. `npm test` runs a bounded, seeded part
 * of each; BPFGEN_LONG=1 (`npm run test:long`) runs the full counts the
 * reliability figures quote.
 */
export const LONG_RUN = process.env.BPFGEN_LONG === '1';

/** `bounded` in an ordinary run, `full` with BPFGEN_LONG=1. */
export function scaled(bounded: number, full: number): number {
  return LONG_RUN ? full : bounded;
}

/** A test timeout that grows with the long run's counts. */
export function scaledTimeout(boundedMs: number, fullMs: number): number {
  return LONG_RUN ? fullMs : boundedMs;
}
