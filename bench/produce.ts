/**
 * (1) Time to produce each program: bpfgen assembling it in-process from
 * its options (no call sites recorded, as loading does), against a
 * `clang -O2 -target bpf -c` process compiling the C reference with the
 * options as defines. clang's fixed cost is the same process on an empty
 * program. Rounds interleave: each round times every program both ways and
 * the empty compile, in an order that rotates.
 */
import { join } from 'node:path';
import { compileReference } from './clang.js';
import type { Reference } from './references.js';
import { elapsedNs, interleave, summarize, type Summary } from './stats.js';
import { formatTable, millis, times } from './table.js';

/** bpfgen builds per round: each is a sample; a build is short enough that one round can afford many. */
const BUILDS_PER_ROUND = 20;
const WARMUP_BUILDS = 200;

export interface ProduceRow {
  readonly program: string;
  readonly bpfgenNs: Summary;
  readonly clangNs: Summary;
  /** clang's median over bpfgen's. */
  readonly ratio: number;
}

export interface ProduceResult {
  readonly rounds: number;
  readonly programs: readonly ProduceRow[];
  /** clang on bench/reference/empty.c. */
  readonly clangEmptyNs: Summary;
}

export function measureProduce(references: readonly Reference[], workdir: string, rounds: number): ProduceResult {
  const ours = new Map<string, number[]>(references.map((r) => [r.name, []]));
  const theirs = new Map<string, number[]>(references.map((r) => [r.name, []]));
  const empty: number[] = [];

  for (const reference of references) for (let i = 0; i < WARMUP_BUILDS; i++) reference.build(reference.options);
  const steps: (() => void)[] = [() => empty.push(compileReference('empty.c', join(workdir, 'produce-empty.o')))];
  for (const reference of references) {
    const compile = { defines: reference.defines(reference.options), btf: reference.btf };
    steps.push(() => {
      for (let i = 0; i < BUILDS_PER_ROUND; i++) {
        const start = process.hrtime.bigint();
        reference.build(reference.options);
        ours.get(reference.name)!.push(elapsedNs(start));
      }
    });
    steps.push(() => theirs.get(reference.name)!.push(compileReference(reference.source, join(workdir, `produce-${reference.name}.o`), compile)));
  }
  // One untimed round first: clang's files into the page cache.
  interleave(1, steps);
  ours.forEach((samples) => (samples.length = 0));
  theirs.forEach((samples) => (samples.length = 0));
  empty.length = 0;
  interleave(rounds, steps);

  return {
    rounds,
    programs: references.map((reference) => {
      const bpfgenNs = summarize(ours.get(reference.name)!);
      const clangNs = summarize(theirs.get(reference.name)!);
      return { program: reference.name, bpfgenNs, clangNs, ratio: clangNs.median / bpfgenNs.median };
    }),
    clangEmptyNs: summarize(empty),
  };
}

export function produceTable(result: ProduceResult): string {
  const fixed = result.clangEmptyNs.median;
  return formatTable(
    ['program', 'bpfgen', 'clang -O2 -c', 'clang − empty', 'clang / bpfgen'],
    [
      ...result.programs.map((row) => [row.program, millis(row.bpfgenNs.median), millis(row.clangNs.median), millis(row.clangNs.median - fixed), times(row.ratio)]),
      ['(empty program)', '', millis(fixed), '', ''],
    ],
  );
}
