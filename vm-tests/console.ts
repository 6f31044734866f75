/**
 * A matrix point's process (QEMU, or the test command on the host) run with
 * a time limit. Its whole output goes to a console log; the progress lines
 * (and any sign of a kernel crash) are shown as they come, and the last
 * lines are kept for the report when the point fails.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { duration, say } from './progress.js';
import { PROGRESS_MARK } from './results.js';

const TAIL_LINES = 40;
/** Without a progress line for this long, say what is still running. */
const HEARTBEAT_MS = 120_000;
/** Console lines that mean the kernel is in trouble; shown at once, not only in the tail. */
const KERNEL_TROUBLE = /Kernel panic|BUG:|Oops|general protection fault|WARNING: CPU:|Call Trace:|hung_task|soft lockup/;

/** Running points; each is the leader of its own process group, so that the whole group can be ended. */
const running = new Set<ChildProcess>();

/** Kill the child's process group: the child and anything it left running (vitest workers, a test's stray daemon). */
function endGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group has already gone
  }
}

/** On Ctrl-C or SIGTERM, end every running point's process group before exiting, so that no QEMU outlives the runner. */
export function endPointsOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      running.forEach(endGroup);
      process.exit(130);
    });
  }
}

/**
 * CPU time of a process and its reaped children so far, in milliseconds
 * (/proc/PID/stat: utime, stime, cutime, cstime in clock ticks of 1/100 s).
 * On a shared, busy machine this says what a point costs better than the
 * wall clock does.
 */
function cpuTimeMs(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) * 10;
  } catch {
    return undefined; // the process has gone
  }
}

export interface ConsoleOutcome {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly elapsedMs: number;
  /** CPU time as last sampled (every few seconds) before the process ended. */
  readonly cpuMs: number;
  /** The last lines of output, carriage returns removed. */
  readonly tail: readonly string[];
  /** The first lines that showed the kernel in trouble (a panic, an oops, a BUG), if any. */
  readonly trouble: readonly string[];
}

export interface ConsoleOptions {
  readonly label: string;
  readonly timeoutMs: number;
  readonly logPath: string;
}

export function runWithConsole(command: string, args: readonly string[], options: ConsoleOptions): Promise<ConsoleOutcome> {
  const { label } = options;
  const started = Date.now();
  const log = createWriteStream(options.logPath);
  const tail: string[] = [];
  const trouble: string[] = [];
  let partial = '';
  let lastProgress = 'starting';
  let lastProgressAt = started;
  let lastShownAt = started;

  const take = (line: string) => {
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
    const mark = line.indexOf(PROGRESS_MARK);
    if (mark >= 0) {
      lastProgress = line.slice(mark + PROGRESS_MARK.length);
      lastProgressAt = lastShownAt = Date.now();
      say(label, lastProgress);
    } else if (KERNEL_TROUBLE.test(line)) {
      if (trouble.length < 5) trouble.push(line.trim());
      say(label, `console: ${line}`);
    }
  };

  // stdin is /dev/null: a guest command that reads stdin must see end of file, not wait for the timeout.
  // A group of its own: a timed-out host run leaves no vitest workers behind.
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  running.add(child);
  const onData = (chunk: string) => {
    log.write(chunk);
    const lines = (partial + chunk).replace(/\r/g, '').split('\n');
    partial = lines.pop()!;
    lines.forEach(take);
  };
  child.stdout.setEncoding('utf8').on('data', onData);
  child.stderr.setEncoding('utf8').on('data', onData);

  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    endGroup(child);
  }, options.timeoutMs);
  let cpuMs = 0;
  const heartbeat = setInterval(() => {
    cpuMs = cpuTimeMs(child.pid!) ?? cpuMs;
    if (Date.now() - lastShownAt < HEARTBEAT_MS) return;
    lastShownAt = Date.now();
    say(label, `still busy, ${duration(Date.now() - lastProgressAt)} since: ${lastProgress}`);
  }, 2_000);

  const finish = () => {
    clearTimeout(deadline);
    clearInterval(heartbeat);
    running.delete(child);
  };
  return new Promise((resolve, reject) => {
    child.on('error', (error) => {
      finish();
      log.end();
      reject(error);
    });
    child.on('close', (exitCode, signal) => {
      finish();
      endGroup(child);
      if (partial) take(partial);
      log.end(() => resolve({ exitCode, signal, timedOut, elapsedMs: Date.now() - started, cpuMs, tail, trouble }));
    });
  });
}
