/** Order statistics of benchmark samples: robust to the outliers a shared, noisy machine produces. */

export interface Summary {
  readonly median: number;
  readonly p10: number;
  readonly p90: number;
  readonly samples: number;
}

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError('no samples to summarize');
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: percentile(sorted, 50), p10: percentile(sorted, 10), p90: percentile(sorted, 90), samples: sorted.length };
}

/** Nanoseconds since `start` (a process.hrtime.bigint() reading). */
export function elapsedNs(start: bigint): number {
  return Number(process.hrtime.bigint() - start);
}

/** Run `steps` once per round in an order that rotates every round, so that none always follows another. */
export function interleave(rounds: number, steps: readonly (() => void)[], onRound?: (round: number) => void): void {
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < steps.length; k++) steps[(round + k) % steps.length]!();
    onRound?.(round);
  }
}
