/**
 * One matrix point: the feature probe and the kernel test files, run by the
 * same command.sh on the host or inside a guest booted under QEMU, with the
 * results read back from the point's results directory.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { runWithConsole, type ConsoleOutcome } from './console.js';
import type { GuestKernel } from './kernels.js';
import { COMPILED, REPO_ROOT, RUNS, VM_TESTS } from './paths.js';
import { duration } from './progress.js';
import { qemuArgs, type GuestMachine } from './qemu.js';
import { PROGRESS_MARK, RESULTS_FILE_ENV, type PointResults } from './results.js';

export interface PointOutcome {
  readonly label: string;
  /** `uname -r` of the point's kernel. */
  readonly release: string;
  readonly results?: PointResults;
  /** Why the point failed apart from its tests (a crash, a hang, no results, no probe), then the end of its console; empty when none. */
  readonly problems: readonly string[];
  readonly elapsedMs: number;
  /** CPU time of QEMU (all of the guest's work) or of the host's test processes. */
  readonly cpuMs: number;
}

/** The results directory of a point (the guest's writable share); kept until the point runs again. */
export function resultsDir(label: string): string {
  return join(RUNS, label);
}

export const PROBE_FILE = 'probe.json';
const RESULTS_FILE = 'results.json';
const PROBE_ERRORS_FILE = 'probe.err';
const EXIT_CODE_FILE = 'exit-code';
const CONSOLE_FILE = 'console.log';

function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * What runs at every point, as root in the repository: the environment
 * check, the probe, then vitest with the matrix reporter. `emulated`: a
 * guest under TCG, with vitest's own time limits raised to `testTimeoutMs`.
 */
function commandScript(dir: string, files: readonly string[], emulated: { testTimeoutMs: number } | undefined): string {
  const probe = shellQuote(join(dir, PROBE_FILE));
  const probeErrors = shellQuote(join(dir, PROBE_ERRORS_FILE));
  const timeouts = emulated ? [`--testTimeout=${emulated.testTimeoutMs}`, `--hookTimeout=${emulated.testTimeoutMs}`] : [];
  // The default reporter's failure details go to the console log; the matrix reporter's lines are the progress shown.
  const reporters = ['--reporter=default', `--reporter=${join(VM_TESTS, 'reporter.ts')}`];
  const vitest = ['node', 'node_modules/vitest/vitest.mjs', 'run', ...reporters, ...timeouts, ...files];
  return [
    '# Written by vm-tests/point.ts for one matrix point.',
    `cd ${shellQuote(REPO_ROOT)} || exit 1`,
    `export ${RESULTS_FILE_ENV}=${shellQuote(join(dir, RESULTS_FILE))}`,
    // The tests' global setup takes this compile instead of running tsc, minutes under emulation.
    `export BPFGEN_COMPILED_ROOT=${shellQuote(COMPILED)}`,
    // Sweeps and streams take fewer inputs in a guest (test/support/emulation.ts).
    ...(emulated ? ['export BPFGEN_EMULATED=1'] : []),
    `sh ${shellQuote(join(VM_TESTS, 'check-environment.sh'))}`,
    `echo '${PROGRESS_MARK}probing features: bpfgen probe --json'`,
    `node ${shellQuote(join(COMPILED, 'dist', 'cli', 'main.js'))} probe --json >${probe} 2>${probeErrors} || echo "${PROGRESS_MARK}bpfgen probe failed: $(head -c 300 ${probeErrors})"`,
    `exec ${vitest.map(shellQuote).join(' ')}`,
    '',
  ].join('\n');
}

function freshResultsDir(label: string, files: readonly string[], emulated: { testTimeoutMs: number } | undefined): string {
  const dir = resultsDir(label);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'command.sh'), commandScript(dir, files, emulated));
  return dir;
}

function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined; // missing, or cut short by a crash
  }
}

/** The point's outcome from what its run left behind; `exitCode` is command.sh's, undefined when it never finished. */
function outcome(label: string, kernelRelease: string, dir: string, run: ConsoleOutcome, exitCode: number | undefined, timeoutMs: number): PointOutcome {
  const results = readJson<PointResults>(join(dir, RESULTS_FILE));
  const problems: string[] = [];
  if (run.timedOut) problems.push(`did not finish within its time limit of ${duration(timeoutMs)}`);
  else if (exitCode === undefined) problems.push(`stopped before the tests finished (a crash or a kernel panic; QEMU exit ${run.exitCode ?? run.signal})`);
  else if (!results) problems.push(`the tests exited with ${exitCode} and wrote no results`);
  else if (exitCode !== 0 && results.files.every((file) => file.failed === 0) && results.unhandledErrors.length === 0) {
    problems.push(`vitest exited with ${exitCode} although no test failed`);
  }
  if (run.trouble.length > 0) problems.push(`the kernel said: ${run.trouble.join(' | ')}`);
  if (!readJson(join(dir, PROBE_FILE)) && !run.timedOut && exitCode !== undefined) {
    const stderr = existsSync(join(dir, PROBE_ERRORS_FILE)) ? readFileSync(join(dir, PROBE_ERRORS_FILE), 'utf8').trim() : '';
    problems.push(`bpfgen probe --json gave no report${stderr ? `: ${stderr.split('\n')[0]}` : ''}`);
  }
  const consoleTail = `the end of ${join(dir, CONSOLE_FILE)}:\n    ${run.tail.join('\n    ')}`;
  return {
    label,
    release: kernelRelease,
    ...(results && { results }),
    problems: problems.length > 0 ? [...problems, consoleTail] : [],
    elapsedMs: run.elapsedMs,
    cpuMs: run.cpuMs,
  };
}

export async function runOnHost(files: readonly string[], timeoutMs: number): Promise<PointOutcome> {
  const dir = freshResultsDir('host', files, undefined);
  const run = await runWithConsole('sh', [join(dir, 'command.sh')], { label: 'host', timeoutMs, logPath: join(dir, CONSOLE_FILE) });
  return outcome('host', release(), dir, run, run.exitCode ?? undefined, timeoutMs);
}

export async function runInGuest(
  kernel: GuestKernel,
  files: readonly string[],
  options: { timeoutMs: number; testTimeoutMs: number; machine: GuestMachine },
): Promise<PointOutcome> {
  const dir = freshResultsDir(kernel.label, files, { testTimeoutMs: options.testTimeoutMs });
  const run = await runWithConsole('qemu-system-x86_64', qemuArgs(kernel, dir, options.machine), {
    label: kernel.label,
    timeoutMs: options.timeoutMs,
    logPath: join(dir, CONSOLE_FILE),
  });
  // init writes the exit code of command.sh on the share just before it powers off.
  const written = existsSync(join(dir, EXIT_CODE_FILE)) ? Number(readFileSync(join(dir, EXIT_CODE_FILE), 'utf8').trim()) : undefined;
  return outcome(kernel.label, kernel.release, dir, run, written, options.timeoutMs);
}
