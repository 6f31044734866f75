/**
 * (5) `bpfgen dump xdp-dns-forward` from a cold start, a new Node process
 * each time, against `llvm-objdump-19 -d` on clang's object of the same
 * program; and, to show how much of bpfgen's time is Node's own start-up,
 * `node` running an empty script. Wall-clock time of each process, in
 * interleaved rounds.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { OBJDUMP } from './clang.js';
import { elapsedNs, interleave, summarize, type Summary } from './stats.js';
import { formatTable, millis, times } from './table.js';

/** The CLI as published (npm run build); `npm run bench` builds it first. */
export const CLI = fileURLToPath(new URL(import.meta.url.includes('/.work/') ? '../../../dist/cli/main.js' : '../dist/cli/main.js', import.meta.url));
const TIMEOUT_MS = 30_000;

function timed(command: string, args: readonly string[]): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: TIMEOUT_MS, maxBuffer: 16 << 20 });
  const ns = elapsedNs(start);
  if (result.error || result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.error?.message ?? result.stderr.toString().trim()}`);
  return ns;
}

export interface DumpResult {
  readonly rounds: number;
  readonly bpfgenNs: Summary;
  readonly objdumpNs: Summary;
  readonly nodeEmptyNs: Summary;
  /** bpfgen over llvm-objdump. */
  readonly ratio: number;
}

export function measureDump(object: string, rounds: number): DumpResult {
  const samples = { bpfgen: [] as number[], objdump: [] as number[], node: [] as number[] };
  const steps = [
    () => samples.bpfgen.push(timed(process.execPath, [CLI, 'dump', 'xdp-dns-forward'])),
    () => samples.objdump.push(timed(OBJDUMP, ['-d', object])),
    () => samples.node.push(timed(process.execPath, ['-e', ''])),
  ];
  interleave(1, steps); // into the page cache
  for (const list of Object.values(samples)) list.length = 0;
  interleave(rounds, steps);
  const bpfgenNs = summarize(samples.bpfgen);
  const objdumpNs = summarize(samples.objdump);
  return { rounds, bpfgenNs, objdumpNs, nodeEmptyNs: summarize(samples.node), ratio: bpfgenNs.median / objdumpNs.median };
}

export function dumpTable(result: DumpResult): string {
  return formatTable(
    ['command', 'wall time', 'ratio'],
    [
      ['bpfgen dump xdp-dns-forward', millis(result.bpfgenNs.median), times(result.ratio)],
      [`${OBJDUMP} -d (clang's object)`, millis(result.objdumpNs.median), '1.00×'],
      ['node -e "" (Node start-up alone)', millis(result.nodeEmptyNs.median), times(result.nodeEmptyNs.median / result.objdumpNs.median)],
    ],
  );
}
