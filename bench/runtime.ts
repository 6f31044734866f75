/**
 * (4) Run time per packet under BPF_PROG_TEST_RUN. Each test run repeats
 * the program REPEAT times on one packet and the kernel reports the mean
 * nanoseconds per run (whole nanoseconds). The same is measured for an
 * empty program of the same type (it only returns), whose time is the test
 * harness's own per-repetition cost; net time is the difference, taken
 * within each round and then the median over rounds. Each round runs
 * bpfgen's program, clang's and the empty one on every case, in an order
 * that rotates, each from one of COPIES loads in turn.
 *
 * The kernel reuses one packet buffer across repetitions, so a program that
 * rewrites a packet sees its own rewritten packet from the second
 * repetition on. The 'rewrite every run' cases use options under which the
 * rewrite leaves the packet as it was, or, where no options do that without
 * changing the work (`fresh`, see references.ts), FRESH_RUNS test runs of
 * one repetition each, every one on a fresh copy of the packet, whose median
 * is the round's figure.
 */
import { ProgramBuilder } from '../src/asm/dsl/index.js';
import type { ProgramType } from '../src/asm/program.js';
import { loadProgram, type Program } from '../src/loader/index.js';
import { buildPair, loadPair, type LoadedPair } from './pair.js';
import type { Options, Reference, RunCase } from './references.js';
import { interleave, summarize, type Summary } from './stats.js';
import { formatTable, times } from './table.js';

export const REPEAT = 1_000_000;
/** Test runs of one repetition per round and program, for `fresh` cases. */
export const FRESH_RUNS = 1000;
/**
 * Each program is loaded this many times and the rounds take turns: where
 * the JIT places a program moves its time by up to a nanosecond, as much as
 * some of the differences measured.
 */
const COPIES = 3;

/**
 * What an empty program returns: XDP_PASS for XDP, else 0 (TC_ACT_OK for
 * tc, "keep nothing" for a socket filter), so that the harness does the
 * least work after it.
 */
const emptyVerdict = (type: ProgramType): number => (type === 'xdp' ? 2 : 0);

/** A program of `type` that only returns: the test harness's own cost, and the packet as the kernel hands it back untouched. */
export function emptyProgram(type: ProgramType): Program {
  const b = new ProgramBuilder({ name: `bench_empty_${type}`.slice(0, 15), type, license: 'GPL', captureSites: false });
  b.ret(emptyVerdict(type));
  return loadProgram(b.assemble());
}

export interface RuntimeRow {
  readonly program: string;
  readonly case: string;
  readonly kind: RunCase['kind'];
  /** Each round's figure is the median of FRESH_RUNS test runs of one repetition (else one test run of REPEAT). */
  readonly fresh: boolean;
  /** Kernel-reported mean ns per run, per round. */
  readonly bpfgenNs: Summary;
  readonly clangNs: Summary;
  readonly emptyNs: Summary;
  /** Minus the empty program of the same round. */
  readonly bpfgenNetNs: Summary;
  readonly clangNetNs: Summary;
  /** bpfgen's net median over clang's. */
  readonly netRatio: number;
}

export interface RuntimeResult {
  readonly repeat: number;
  readonly rounds: number;
  readonly cases: readonly RuntimeRow[];
}

const optionsKey = (options: Options): string => JSON.stringify(options);

export function measureRuntime(references: readonly Reference[], workdir: string, rounds: number): RuntimeResult {
  const pairs = new Map<string, LoadedPair[]>();
  const empties = new Map<ProgramType, Program[]>();
  const copies = <T>(load: () => T): T[] => Array.from({ length: COPIES }, load);
  try {
    const plan = references.flatMap((reference) =>
      reference.cases.map((run) => {
        const options = run.options ?? reference.options;
        const key = `${reference.name} ${optionsKey(options)}`;
        if (!pairs.has(key)) {
          const built = buildPair(reference, options, workdir);
          pairs.set(key, copies(() => loadPair(built)));
        }
        if (!empties.has(reference.type)) empties.set(reference.type, copies(() => emptyProgram(reference.type)));
        return { reference, run, pairs: pairs.get(key)!, empties: empties.get(reference.type)!, samples: { ours: [] as number[], theirs: [] as number[], empty: [] as number[] } };
      }),
    );
    const time = (program: Program, run: RunCase): number => {
      if (!run.fresh) return program.testRun(run.packet, { repeat: REPEAT }).duration;
      const single = Array.from({ length: FRESH_RUNS }, () => program.testRun(run.packet).duration);
      return summarize(single).median;
    };
    let round = 0;
    const steps = plan.flatMap((p) => [
      () => p.samples.ours.push(time(p.pairs[round % COPIES]!.loadedOurs, p.run)),
      () => p.samples.theirs.push(time(p.pairs[round % COPIES]!.loadedTheirs, p.run)),
      () => p.samples.empty.push(time(p.empties[round % COPIES]!, p.run)),
    ]);
    interleave(rounds, steps, () => round++);

    return {
      repeat: REPEAT,
      rounds,
      cases: plan.map(({ reference, run, samples }) => {
        const net = (times: number[]) => summarize(times.map((ns, round) => ns - samples.empty[round]!));
        const bpfgenNetNs = net(samples.ours);
        const clangNetNs = net(samples.theirs);
        return {
          program: reference.name,
          case: run.name,
          fresh: run.fresh === true,
          kind: run.kind,
          bpfgenNs: summarize(samples.ours),
          clangNs: summarize(samples.theirs),
          emptyNs: summarize(samples.empty),
          bpfgenNetNs,
          clangNetNs,
          netRatio: bpfgenNetNs.median / clangNetNs.median,
        };
      }),
    };
  } finally {
    for (const loaded of pairs.values()) for (const pair of loaded) pair.close();
    for (const loaded of empties.values()) for (const empty of loaded) empty.close();
  }
}

const ns = (value: number): string => `${Number.isInteger(value) ? value : value.toFixed(1)} ns`;

export function runtimeTable(result: RuntimeResult): string {
  const note = result.cases.some((row) => row.fresh)
    ? `\n* median of ${FRESH_RUNS} test runs of one repetition, each on a fresh copy of the packet`
    : '';
  return formatTable(
    ['program', 'packet', 'kind', 'empty', 'bpfgen net', 'clang net', 'bpfgen / clang'],
    result.cases.map((row) => [
      row.program,
      row.case,
      row.kind + (row.fresh ? '*' : ''),
      ns(row.emptyNs.median),
      ns(row.bpfgenNetNs.median),
      ns(row.clangNetNs.median),
      row.clangNetNs.median > 0 ? times(row.netRatio) : 'n/a',
    ]),
  ) + note;
}
