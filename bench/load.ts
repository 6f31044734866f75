/**
 * How much of loading a program is bpfgen and how much is the kernel.
 *
 * For every program in the registry, interleaved over many rounds:
 * - PROG_LOAD: the bare bpf(BPF_PROG_LOAD) call, with the attr and the
 *   instruction bytes already encoded (captured from one load through
 *   bpfgen, so it is exactly the request bpfgen makes);
 * - build: assembling the program from its options;
 * - load: bpfgen's loader on an already built program (relocate, encode,
 *   PROG_LOAD, read back the program's id and tag);
 * - build+load: bpfgen's whole path from options to a loaded program
 *   (assemble, relocate, encode, PROG_LOAD), without recording source
 *   lines, as a loader that does not print listings would;
 * - build+load with sites: the same with source lines recorded, as the CLI
 *   builds programs by default.
 * Maps are created once and passed in, so every variant times the same
 * kernel work. Each measured program is closed outside the timed region.
 *
 * Run with `npm run bench:load` (root, or CAP_BPF + CAP_NET_ADMIN);
 * `npm run bench:load -- --rounds 1000` for more rounds.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { AssembledProgram } from '../src/asm/program.js';
import { BpfError, createMap, FeatureError, loadProgram, native, NativeUnavailableError, type MapHandle } from '../src/loader/index.js';
import { PROGRAMS, type ProgramEntry } from '../src/programs/index.js';
import { machine, machineLine } from './machine.js';
import { captureProgLoad, replayProgLoad, type ProgLoadRequest } from './prog-load.js';
import { elapsedNs as elapsed, summarize as summarizeSamples } from './stats.js';
import { formatTable, micros } from './table.js';

// Compiled to bench/.work/bench/load.js; the results live beside this source.
const RESULTS = new URL('../../results-load.json', import.meta.url);

type Variant = 'progLoad' | 'build' | 'load' | 'buildLoad' | 'buildLoadSites';
const VARIANTS: readonly Variant[] = ['progLoad', 'build', 'load', 'buildLoad', 'buildLoadSites'];

interface Summary {
  readonly medianNs: number;
  readonly p10Ns: number;
  readonly p90Ns: number;
}

function summarize(samples: readonly number[]): Summary {
  const { median, p10, p90 } = summarizeSamples(samples);
  return { medianNs: median, p10Ns: p10, p90Ns: p90 };
}

interface Subject {
  readonly entry: ProgramEntry;
  readonly built: AssembledProgram;
  readonly maps: Record<string, MapHandle>;
  readonly request: ProgLoadRequest;
  readonly samples: Record<Variant, number[]>;
}

function measure(subject: Subject, variant: Variant): number {
  const { entry, built, maps, request } = subject;
  let start: bigint;
  switch (variant) {
    case 'progLoad': {
      start = process.hrtime.bigint();
      const fd = replayProgLoad(request);
      const ns = elapsed(start);
      native().close(fd);
      return ns;
    }
    case 'build': {
      start = process.hrtime.bigint();
      entry.build({}, { captureSites: false });
      return elapsed(start);
    }
    case 'load': {
      start = process.hrtime.bigint();
      const program = loadProgram(built, { maps });
      const ns = elapsed(start);
      program.close();
      return ns;
    }
    case 'buildLoad':
    case 'buildLoadSites': {
      start = process.hrtime.bigint();
      const program = loadProgram(entry.build({}, { captureSites: variant === 'buildLoadSites' }), { maps });
      const ns = elapsed(start);
      program.close();
      return ns;
    }
  }
}

function table(subjects: readonly Subject[], results: Record<string, Record<Variant, Summary>>): string {
  const header = ['program', 'insns', 'PROG_LOAD', 'build', 'load', 'build+load', 'ratio', 'overhead', 'build+load (sites)', 'ratio'];
  const rows = subjects.map((s) => {
    const r = results[s.entry.name]!;
    const bare = r.progLoad.medianNs;
    return [
      s.entry.name,
      String(s.built.insns.length),
      micros(bare),
      micros(r.build.medianNs),
      micros(r.load.medianNs),
      micros(r.buildLoad.medianNs),
      `${(r.buildLoad.medianNs / bare).toFixed(2)}x`,
      micros(r.buildLoad.medianNs - bare),
      micros(r.buildLoadSites.medianNs),
      `${(r.buildLoadSites.medianNs / bare).toFixed(2)}x`,
    ];
  });
  return formatTable(header, rows);
}

function main(): number {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, warmup: { type: 'string' } }, strict: true });
  const rounds = Number(values.rounds ?? 300);
  const warmup = Number(values.warmup ?? 30);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100_000) throw new RangeError(`--rounds: '${values.rounds}' is not an integer 1-100000`);
  if (!Number.isInteger(warmup) || warmup < 0 || warmup > 10_000) throw new RangeError(`--warmup: '${values.warmup}' is not an integer 0-10000`);

  const subjects: Subject[] = [];
  try {
    for (const entry of Object.values(PROGRAMS)) {
      const built = entry.build({}, { captureSites: false });
      const maps = Object.fromEntries(built.maps.map((definition) => [definition.name, createMap(definition)]));
      const samples = { progLoad: [], build: [], load: [], buildLoad: [], buildLoadSites: [] };
      subjects.push({ entry, built, maps, request: captureProgLoad(entry.build({}, { captureSites: false }), { maps }), samples });
    }

    // Rotate the order of the variants every round, so that none always runs
    // right after another's close (the kernel frees programs asynchronously).
    for (let round = 0; round < warmup + rounds; round++) {
      for (const subject of subjects) {
        for (let k = 0; k < VARIANTS.length; k++) {
          const variant = VARIANTS[(round + k) % VARIANTS.length]!;
          const ns = measure(subject, variant);
          if (round >= warmup) subject.samples[variant].push(ns);
        }
      }
    }
  } finally {
    for (const subject of subjects) for (const map of Object.values(subject.maps)) map.close();
  }

  const results = Object.fromEntries(
    subjects.map((s) => [s.entry.name, Object.fromEntries(VARIANTS.map((v) => [v, summarize(s.samples[v])])) as Record<Variant, Summary>]),
  );
  const about = machine();
  process.stdout.write(
    `bpfgen load benchmark: median of ${rounds} interleaved rounds (after ${warmup} warm-up rounds)\n` +
      `${machineLine(about)}\n\n` +
      `${table(subjects, results)}\n\n` +
      'load: bpfgen\'s loader on a built program; ratio: build+load over the bare PROG_LOAD syscall;\n' +
      'overhead: their difference (what bpfgen adds).\n',
  );
  const report = {
    date: new Date().toISOString(),
    rounds,
    warmup,
    machine: about,
    programs: subjects.map((s) => {
      const r = results[s.entry.name]!;
      return {
        name: s.entry.name,
        type: s.entry.type,
        insns: s.built.insns.length,
        ...r,
        ratio: r.buildLoad.medianNs / r.progLoad.medianNs,
        ratioWithSites: r.buildLoadSites.medianNs / r.progLoad.medianNs,
      };
    }),
  };
  writeFileSync(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`wrote ${RESULTS.pathname}\n`);
  return 0;
}

try {
  process.exitCode = main();
} catch (error) {
  // Missing privileges or shim, and bad arguments, are one line; anything else is a bug worth its stack.
  if (error instanceof BpfError || error instanceof NativeUnavailableError || error instanceof FeatureError || error instanceof RangeError) {
    process.stderr.write(`bench:load: ${(error as Error).message}\n`);
    process.exitCode = 1;
  } else throw error;
}
