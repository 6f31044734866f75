/**
 * Host commands run by the matrix runner, each with a time limit; a failure
 * names the command and ends with what it printed on stderr.
 */
import { execFileSync } from 'node:child_process';

/** A step of the runner failed in a way that is not a test result (a download, an unpack, a boot setup). */
export class StepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StepError';
  }
}

export interface RunOptions {
  readonly timeoutMs: number;
  readonly cwd?: string;
  readonly input?: string | Uint8Array;
}

/** Run `command args` and return its stdout; throws StepError on a non-zero exit or the time limit. */
export function run(command: string, args: readonly string[], options: RunOptions): Buffer {
  try {
    return execFileSync(command, args, {
      cwd: options.cwd,
      input: options.input,
      timeout: options.timeoutMs,
      killSignal: 'SIGKILL',
      maxBuffer: 512 * 1024 * 1024,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (error) {
    const failure = error as { status?: number | null; signal?: string | null; stderr?: Buffer; code?: string };
    const shown = [command, ...args].join(' ');
    if (failure.code === 'ENOENT') throw new StepError(`${command}: not installed (needed for: ${shown})`);
    const how =
      failure.signal === 'SIGKILL' ? `timed out after ${Math.round(options.timeoutMs / 1000)} s` : `failed with exit code ${failure.status ?? failure.signal}`;
    const stderr = failure.stderr?.toString().trim().split('\n').slice(-5).join('\n  ');
    throw new StepError(`${shown} ${how}${stderr ? `:\n  ${stderr}` : ''}`);
  }
}

/** `run` for commands whose output is text. */
export function runText(command: string, args: readonly string[], options: RunOptions): string {
  return run(command, args, options).toString('utf8');
}
