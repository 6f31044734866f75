/**
 * How much the hardening tests do. `npm test` runs a bounded, seeded part
 * of each (about two minutes for test/hardening on two cores);
 * BPFGEN_LONG=1 (`npm run test:long`) runs the full counts the reliability
 * figures quote:
 *
 *                                   default    BPFGEN_LONG=1
 *   packets fuzzed per program        5,000          100,000
 *   configurations per program        1,000            5,000
 *   leak cycles                         300           10,000
 *   SIGKILLs while starting               4               40
 *   CLI bad-input runs      one per fault and     the whole table and
 *                           command, and bugs     every option of every
 *                                                 program per command
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
