/**
 * `npm run bench`: bpfgen against clang-built equivalents, every
 * measurement of issue 9 in one run, A and B interleaved in every round:
 *
 * 1. time to produce each program (produce.ts);
 * 2. options to loaded and attached (attach.ts);
 * 3. size: instructions, xlated instructions, JIT bytes (size.ts);
 * 4. run time per packet under BPF_PROG_TEST_RUN (runtime.ts);
 * 5. `bpfgen dump` from a cold start against llvm-objdump (dump.ts);
 * 6. assembler throughput on 1,000,000 instructions (assembler.ts);
 * 7. peak RSS of `bpfgen attach` (rss.ts).
 *
 * It prints a table per measurement and one of the targets, and writes
 * bench/results.json with the machine, kernel, CPU, Node and clang
 * versions. It needs root: it runs inside a network namespace of its own
 * (created here, deleted on exit), so that attaching to `lo` touches
 * nothing else. `-- --quick` runs a few rounds of each, to try it out.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BpfError, FeatureError, NativeUnavailableError } from '../src/loader/index.js';
import { assemblerTable, measureAssembler } from './assembler.js';
import { attachTable, measureAttach } from './attach.js';
import { CLANG, ensureBenchTools, OBJDUMP, toolVersion } from './clang.js';
import { dumpTable, measureDump } from './dump.js';
import { machine, machineLine } from './machine.js';
import { buildPair, loadPair, type LoadedPair } from './pair.js';
import { measureProduce, produceTable } from './produce.js';
import { REFERENCES } from './references.js';
import { measureRss, rssTable } from './rss.js';
import { measureRuntime, runtimeTable } from './runtime.js';
import { measureSize, sizeTable } from './size.js';
import { targets, targetsTable } from './targets.js';

// Compiled to bench/.work/bench/run.js; the results live beside this source.
const RESULTS = new URL('../../results.json', import.meta.url);
/** Set in the re-executed process: the namespace it runs in. */
const NETNS_ENV = 'BPFGEN_BENCH_NETNS';
/** net.core.bpf_jit_enable as the host sees it: /proc/sys/net is not visible from another network namespace. */
const JIT_ENV = 'BPFGEN_BENCH_JIT';

const ROUNDS = { produce: 15, attach: 100, runtime: 21, dump: 15, assembler: 7, rss: 5 };
const QUICK_ROUNDS = { produce: 3, attach: 5, runtime: 3, dump: 3, assembler: 2, rss: 1 };

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

/** Run this script again inside a new network namespace, and delete the namespace afterwards. */
function runInNetns(): number {
  const name = `bpfgen-bench-${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8', timeout: 30_000 });
  if (add.status !== 0) throw new Error(`ip netns add ${name} failed: ${add.stderr.trim()}`);
  // Ctrl-C reaches the child too; this process stays to delete the namespace.
  const ignore = () => undefined;
  process.on('SIGINT', ignore).on('SIGTERM', ignore);
  try {
    const up = spawnSync('ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up'], { encoding: 'utf8', timeout: 30_000 });
    if (up.status !== 0) throw new Error(`bringing lo up in ${name} failed: ${up.stderr.trim()}`);
    const child = spawnSync('ip', ['netns', 'exec', name, process.execPath, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, [NETNS_ENV]: name, [JIT_ENV]: machine().bpfJitEnable ?? '' },
    });
    return child.status ?? 1;
  } finally {
    spawnSync('ip', ['netns', 'del', name], { timeout: 30_000 });
  }
}

function section(title: string, table: string): void {
  process.stdout.write(`\n${title}\n${table}\n`);
}

async function measureAll(quick: boolean): Promise<number> {
  const rounds = quick ? QUICK_ROUNDS : ROUNDS;
  const host = machine();
  const about = { ...host, bpfJitEnable: host.bpfJitEnable ?? (process.env[JIT_ENV] || undefined), clang: toolVersion(CLANG), objdump: toolVersion(OBJDUMP) };
  process.stdout.write(`bpfgen benchmark against clang -O2 (${about.clang})\n${machineLine(about)}\n`);
  const workdir = mkdtempSync(join(tmpdir(), `bpfgen-bench-${process.pid}-`));
  const pairs: LoadedPair[] = [];
  try {
    const started = Date.now();
    log('producing: bpfgen builds and clang compiles');
    const produce = measureProduce(REFERENCES, workdir, rounds.produce);
    section(`(1) Time to produce each program (median of ${rounds.produce} rounds)`, produceTable(produce));

    for (const reference of REFERENCES) pairs.push(loadPair(buildPair(reference, reference.options, workdir)));
    const size = measureSize(pairs);
    section('(3) Size: instructions as built, after the verifier (xlated), JIT machine code', sizeTable(size));
    const xdpObject = pairs.find((p) => p.reference.name === 'xdp-dns-forward')!.object;

    log('run time: BPF_PROG_TEST_RUN');
    const runtime = measureRuntime(REFERENCES, workdir, rounds.runtime);
    section(`(4) Run time per packet: kernel ns/run over ${runtime.repeat.toLocaleString('en')} repetitions, minus an empty program, median of ${rounds.runtime} rounds`, runtimeTable(runtime));

    log('attach: options to attached on lo');
    const attach = await measureAttach(REFERENCES.find((r) => r.name === 'xdp-dns-forward')!.options, rounds.attach);
    section(`(2) Options to loaded and attached, xdp-dns-forward (median of ${rounds.attach} rounds)`, attachTable(attach));

    log('dump: cold starts');
    const dump = measureDump(xdpObject, rounds.dump);
    section(`(5) Cold start (median of ${rounds.dump} rounds)`, dumpTable(dump));

    log('assembler: 1,000,000 instructions');
    const assembler = measureAssembler(rounds.assembler);
    section(`(6) Assembler throughput, ${assembler.insns.toLocaleString('en')} instructions (median of ${rounds.assembler} rounds)`, assemblerTable(assembler));

    log('peak RSS');
    const rss = await measureRss(xdpObject, rounds.rss);
    section(`(7) Peak RSS (median of ${rounds.rss} runs)${rss.attachAvailable ? '' : ' — the CLI has no attach command yet: test-run stands in'}`, rssTable(rss));

    const results = { produce, size, runtime, attach, dump, assembler, rss };
    const checked = targets(results);
    section('Targets (issue 9)', targetsTable(checked));

    const report = { date: new Date().toISOString(), quick, seconds: Math.round((Date.now() - started) / 1000), machine: about, targets: checked, ...results };
    writeFileSync(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`\nwrote ${RESULTS.pathname} (${report.seconds} s)\n`);
    return 0;
  } finally {
    for (const pair of pairs) pair.close();
    rmSync(workdir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' } }, strict: true });
  if (process.getuid?.() !== 0) throw new Error('needs root: it loads and attaches programs inside a network namespace it creates');
  if (process.env[NETNS_ENV] === undefined) {
    ensureBenchTools(log);
    return runInNetns();
  }
  return measureAll(values.quick === true);
}

main().then(
  (code) => (process.exitCode = code),
  (error: unknown) => {
    // Missing privileges, shim or tools are one line; anything else is a bug worth its stack.
    if (error instanceof BpfError || error instanceof NativeUnavailableError || error instanceof FeatureError || (error instanceof Error && error.constructor === Error)) {
      process.stderr.write(`bench: ${(error as Error).message}\n`);
      process.exitCode = 1;
    } else throw error;
  },
);
