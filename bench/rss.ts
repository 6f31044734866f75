/**
 * (7) Peak resident memory (VmHWM) of `bpfgen attach xdp-dns-forward
 * --iface lo`: the process is started, and once it has printed what it
 * attached, its high-water mark is read from /proc/PID/status before it is
 * stopped with SIGTERM (which detaches). Beside it, the same figure for Node
 * running an empty script, and for iproute2 attaching clang's object
 * (`ip link set dev lo xdpgeneric obj … sec xdp`, measured with
 * /usr/bin/time), the usual C toolchain's way of doing the same.
 *
 * Where the CLI has no `attach` command yet, `bpfgen test-run` (build,
 * load, one test run) stands in, and the result says so.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { CLI } from './dump.js';
import { summarize, type Summary } from './stats.js';
import { formatTable } from './table.js';

const GNU_TIME = '/usr/bin/time';
const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

export interface RssResult {
  /** The bpfgen command measured. */
  readonly command: string;
  readonly attachAvailable: boolean;
  readonly rounds: number;
  readonly bpfgenKiB: Summary;
  readonly nodeEmptyKiB: Summary;
  readonly iprouteKiB: Summary;
}

/** Max RSS in KiB of a short-lived command, from GNU time (Debian package time, which the bench installs). */
function maxRssOf(command: string, args: readonly string[]): number {
  const result = spawnSync(GNU_TIME, ['-f', '%M', command, ...args], { encoding: 'utf8', timeout: START_TIMEOUT_MS });
  if (result.error || result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.error?.message ?? result.stderr.trim()}`);
  return Number(result.stderr.trim().split('\n').at(-1));
}

function vmHwmKiB(pid: number): number {
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmHWM in /proc/${pid}/status`);
  return Number(match[1]);
}

/** Start `bpfgen attach`, read its peak RSS once it reports the attachment, stop it with SIGTERM. */
async function attachPeak(args: readonly string[]): Promise<number> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const ready = await Promise.race([
      new Promise<boolean>((resolve) => child.stdout.once('data', () => resolve(true))),
      exited.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), START_TIMEOUT_MS)),
    ]);
    if (!ready) throw new Error(`bpfgen ${args.join(' ')} did not report an attachment: ${stderr.trim()}`);
    return vmHwmKiB(child.pid!);
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_TIMEOUT_MS))]);
    if (!stopped) child.kill('SIGKILL');
  }
}

/** Whether this build of the CLI has an `attach` command. */
function hasAttach(): boolean {
  return spawnSync(process.execPath, [CLI, 'attach', '--help'], { stdio: 'ignore', timeout: START_TIMEOUT_MS }).status === 0;
}

export async function measureRss(object: string, rounds: number): Promise<RssResult> {
  const attachAvailable = hasAttach();
  const args = attachAvailable
    ? ['attach', 'xdp-dns-forward', '--iface', 'lo']
    : ['test-run', 'xdp-dns-forward', '--packet-preset', 'dns-query'];
  const samples = { bpfgen: [] as number[], node: [] as number[], iproute: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    samples.bpfgen.push(attachAvailable ? await attachPeak(args) : maxRssOf(process.execPath, [CLI, ...args]));
    samples.node.push(maxRssOf(process.execPath, ['-e', '']));
    try {
      samples.iproute.push(maxRssOf('ip', ['link', 'set', 'dev', 'lo', 'xdpgeneric', 'obj', object, 'sec', 'xdp']));
    } finally {
      spawnSync('ip', ['link', 'set', 'dev', 'lo', 'xdpgeneric', 'off'], { timeout: START_TIMEOUT_MS });
    }
  }
  return {
    command: `bpfgen ${args.join(' ')}`,
    attachAvailable,
    rounds,
    bpfgenKiB: summarize(samples.bpfgen),
    nodeEmptyKiB: summarize(samples.node),
    iprouteKiB: summarize(samples.iproute),
  };
}

const mib = (kib: number): string => `${(kib / 1024).toFixed(1)} MiB`;

export function rssTable(result: RssResult): string {
  return formatTable(
    ['process', 'peak RSS'],
    [
      [result.command, mib(result.bpfgenKiB.median)],
      ['node -e "" (Node start-up alone)', mib(result.nodeEmptyKiB.median)],
      ["ip link set dev lo xdpgeneric obj (clang's object, iproute2 + libbpf)", mib(result.iprouteKiB.median)],
    ],
  );
}
