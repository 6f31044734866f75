import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** bpfgen compiled from src once per test run, laid out as an installed package; see test/support/compiled.ts. */
    compiledRoot: string;
  }
}

const repoRoot = join(import.meta.dirname, '..');

/**
 * Compile the src of the checkout at `root` into `dir` (created if
 * missing), laid out as an installed package. vm-tests calls this too (from
 * its compiled copy, hence `root`), once on the host for every kernel of its
 * matrix, because tsc takes minutes under emulation.
 */
export function compileBpfgen(root: string, dir: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(root, 'tsconfig.json'), '--outDir', join(dir, 'dist'), '--declaration', 'false'], {
    timeout: 300_000,
  });
  copyFileSync(join(root, 'package.json'), join(dir, 'package.json'));
  // native.ts finds the addon two levels above its own file, as in the published layout.
  symlinkSync(join(root, 'build'), join(dir, 'build'));
  // Runtime dependencies (dns-packet), found as in an installed package.
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  // World-readable, so that tests can run it as another user.
  chmodSync(dir, 0o755);
}

/**
 * Compile src once for every test that runs bpfgen in a child process (the
 * CLI, or the loader as another user). Compiling rather than using dist/
 * keeps those tests independent of a stale `npm run build`. When
 * BPFGEN_COMPILED_ROOT names a compileBpfgen directory made for this run
 * (vm-tests does), the tests use that one.
 */
export default function setup(project: TestProject): (() => void) | undefined {
  const prebuilt = process.env.BPFGEN_COMPILED_ROOT;
  if (prebuilt) {
    project.provide('compiledRoot', prebuilt);
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'bpfgen-compiled-'));
  compileBpfgen(repoRoot, dir);
  project.provide('compiledRoot', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
