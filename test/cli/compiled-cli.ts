/** The bpfgen CLI, run as a child process the way users run it. */
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compiledPackage } from '../support/compiled.js';

export interface CliResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CompiledCli {
  readonly dir: string;
  /** Run `bpfgen ARGS`; `prefix` is a command that runs node (e.g. setpriv with its options). */
  run(args: readonly string[], prefix?: readonly string[]): CliResult;
  /** A copy of the CLI without the native shim beside it, as on a machine where it did not build. */
  withoutShim(): CompiledCli;
  dispose(): void;
}

function cliIn(pkg: { dir: string; dispose(): void }, cleanups: (() => void)[]): CompiledCli {
  cleanups.push(pkg.dispose);
  const { dir } = pkg;
  return {
    dir,
    run(args, prefix = []) {
      const [command, ...rest] = [...prefix, process.execPath, join(dir, 'dist', 'cli', 'main.js'), ...args];
      const result = spawnSync(command!, rest, { encoding: 'utf8', timeout: 60_000, cwd: tmpdir() });
      if (result.error) throw result.error;
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    },
    withoutShim() {
      return cliIn(compiledPackage({ withShim: false }), cleanups);
    },
    dispose() {
      for (const cleanup of cleanups.splice(0)) cleanup();
    },
  };
}

/** The CLI of this test run's compilation (test/global-setup.ts), in a world-readable directory that other users can run. */
export function compiledCli(): CompiledCli {
  return cliIn(compiledPackage(), []);
}
