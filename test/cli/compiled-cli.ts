/**
 * The bpfgen CLI compiled from src into a temporary directory, run as a
 * child process the way users run it. Compiling here rather than using
 * dist/ keeps the tests independent of a stale `npm run build`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const repoRoot = join(import.meta.dirname, '..', '..');

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

function cliIn(dir: string, cleanups: (() => void)[]): CompiledCli {
  return {
    dir,
    run(args, prefix = []) {
      const [command, ...rest] = [...prefix, process.execPath, join(dir, 'dist', 'cli', 'main.js'), ...args];
      const result = spawnSync(command!, rest, { encoding: 'utf8', timeout: 60_000, cwd: tmpdir() });
      if (result.error) throw result.error;
      return { status: result.status, stdout: result.stdout, stderr: result.stderr };
    },
    withoutShim() {
      const bare = mkdtempSync(join(tmpdir(), 'bpfgen-cli-noshim-'));
      cpSync(join(dir, 'dist'), join(bare, 'dist'), { recursive: true });
      copyFileSync(join(dir, 'package.json'), join(bare, 'package.json'));
      symlinkSync(join(repoRoot, 'node_modules'), join(bare, 'node_modules'));
      cleanups.push(() => rmSync(bare, { recursive: true, force: true }));
      return cliIn(bare, cleanups);
    },
    dispose() {
      for (const cleanup of cleanups.splice(0)) cleanup();
    },
  };
}

/** Compile the CLI (about ten seconds); the directory is world-readable so that other users can run it. */
export function compiledCli(): CompiledCli {
  const dir = mkdtempSync(join(tmpdir(), 'bpfgen-cli-'));
  const cleanups = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    execFileSync(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', join(repoRoot, 'tsconfig.json'), '--outDir', join(dir, 'dist'), '--declaration', 'false'], {
      timeout: 120_000,
    });
    copyFileSync(join(repoRoot, 'package.json'), join(dir, 'package.json'));
    // native.ts finds the addon two levels above its own file, as in the published layout.
    symlinkSync(join(repoRoot, 'build'), join(dir, 'build'));
    // Runtime dependencies (dns-packet), found as in an installed package.
    symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
    chmodSync(dir, 0o755);
  } catch (error) {
    for (const cleanup of cleanups) cleanup();
    throw error;
  }
  return cliIn(dir, cleanups);
}
