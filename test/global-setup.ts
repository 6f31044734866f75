import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
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
 * Compile src once for every test that runs bpfgen in a child process (the
 * CLI, or the loader as another user). Compiling rather than using dist/
 * keeps those tests independent of a stale `npm run build`.
 */
export default function setup(project: TestProject): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'bpfgen-compiled-'));
  execFileSync(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', join(repoRoot, 'tsconfig.json'), '--outDir', join(dir, 'dist'), '--declaration', 'false'], {
    timeout: 300_000,
  });
  copyFileSync(join(repoRoot, 'package.json'), join(dir, 'package.json'));
  // native.ts finds the addon two levels above its own file, as in the published layout.
  symlinkSync(join(repoRoot, 'build'), join(dir, 'build'));
  // Runtime dependencies (dns-packet), found as in an installed package.
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
  // World-readable, so that tests can run it as another user.
  chmodSync(dir, 0o755);
  project.provide('compiledRoot', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
