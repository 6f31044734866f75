/**
 * Running the compiled CLI (test/cli/compiled-cli.ts) many times: as child
 * processes started asynchronously, a few at a time, optionally inside a
 * namespace, as another user, and under strace counting its bpf() calls.
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CompiledCli } from '../../cli/compiled-cli.js';
import type { CommandResult } from '../../support/netns.js';

/** Run as nobody with no capabilities at all (not even in the bounding set). */
export const UNPRIVILEGED = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'] as const;

/** bpf() commands that create, attach or pin something. */
const CREATING_COMMANDS = /bpf\(BPF_(PROG_LOAD|MAP_CREATE|LINK_CREATE|PROG_ATTACH|OBJ_PIN|BTF_LOAD)\b/;
const RUN_TIMEOUT_MS = 60_000;

export interface CliRun extends CommandResult {
  /** With `traceIn`: the bpf() calls the process and its children made, and those that create, attach or pin. */
  readonly bpfCalls?: number;
  readonly creatingCalls?: readonly string[];
}

export interface CliRunOptions {
  /** Commands the node process is run under, outermost first (ip netns exec, setpriv). */
  readonly prefix?: readonly string[];
  readonly cwd: string;
  /** Trace bpf() calls with strace, keeping the trace in this directory under `name`. */
  readonly traceIn?: { readonly dir: string; readonly name: string };
}

/** Run `bpfgen ARGS` without blocking the event loop; bounded in time. */
export function runCli(cli: CompiledCli, args: readonly string[], options: CliRunOptions): Promise<CliRun> {
  const trace = options.traceIn ? join(options.traceIn.dir, `${options.traceIn.name}.strace`) : undefined;
  const tracer = trace ? ['strace', '-f', '-qq', '--seccomp-bpf', '-e', 'trace=bpf', '-o', trace] : [];
  const [command, ...rest] = [...(options.prefix ?? []), ...tracer, process.execPath, join(cli.dir, 'dist', 'cli', 'main.js'), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(command!, rest, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: RUN_TIMEOUT_MS, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (status, signal) => {
      if (!trace) return resolve({ status, signal, stdout, stderr });
      const lines = readFileSync(trace, 'utf8').split('\n').filter((line) => line.includes('bpf('));
      rmSync(trace, { force: true });
      resolve({ status, signal, stdout, stderr, bpfCalls: lines.length, creatingCalls: lines.filter((line) => CREATING_COMMANDS.test(line)) });
    });
  });
}

/** Run `job` on every item, at most `parallel` at a time; the results in the items' order. */
export async function inBatches<T, R>(items: readonly T[], parallel: number, job: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await job(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
  return results;
}
