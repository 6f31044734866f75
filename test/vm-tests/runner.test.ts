/**
 * The kernel matrix runner's own logic (vm-tests/), without booting a
 * kernel: a point's process is watched through real child processes that
 * print what a guest console prints; the file selection reads the real test
 * tree; the report and the README block are checked on made-up outcomes.
 * `npm run test:vm` itself is the end-to-end check.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runWithConsole } from '../../vm-tests/console.js';
import { featureSummary, type KernelProbe } from '../../vm-tests/features.js';
import type { PointOutcome } from '../../vm-tests/point.js';
import { StepError } from '../../vm-tests/process.js';
import { updateReadme } from '../../vm-tests/readme.js';
import { PROGRESS_MARK } from '../../vm-tests/results.js';
import { matrixTestFiles } from '../../vm-tests/select.js';
import { report, totals } from '../../vm-tests/table.js';
import type { FeatureReport, FeatureStatus } from '../../src/loader/probes/index.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const scratch = mkdtempSync(join(tmpdir(), 'bpfgen-vm-runner-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('a point run with a console', () => {
  it('shows progress lines, keeps the tail, and picks out a kernel panic', async () => {
    const script = [
      `echo '${PROGRESS_MARK}running test/a.test.ts'`,
      'echo ordinary output',
      "printf '[   46.1] Kernel panic - not syncing: sysrq triggered crash\\r\\n'",
      "echo '[   46.2] Call Trace:'",
      'exit 3',
    ].join('\n');
    const outcome = await runWithConsole('sh', ['-c', script], { label: 'test', timeoutMs: 30_000, logPath: join(scratch, 'panic.log') });
    expect(outcome).toMatchObject({ exitCode: 3, timedOut: false });
    expect(outcome.trouble).toEqual(['[   46.1] Kernel panic - not syncing: sysrq triggered crash', '[   46.2] Call Trace:']);
    expect(outcome.tail.at(-2)).toBe('[   46.1] Kernel panic - not syncing: sysrq triggered crash');
    expect(readFileSync(join(scratch, 'panic.log'), 'utf8')).toContain('ordinary output');
  });

  it('ends a hung point at its time limit, with everything it started', async () => {
    const pidFile = join(scratch, 'grandchild.pid');
    const started = Date.now();
    const outcome = await runWithConsole('sh', ['-c', `sleep 60 & echo $! > ${pidFile}; wait`], { label: 'test', timeoutMs: 500, logPath: join(scratch, 'hang.log') });
    expect(outcome.timedOut).toBe(true);
    expect(outcome.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeLessThan(10_000);
    const grandchild = Number(readFileSync(pidFile, 'utf8'));
    expect(existsSync(`/proc/${grandchild}`) && !readFileSync(`/proc/${grandchild}/stat`, 'utf8').includes(') Z ')).toBe(false);
  });
});

describe('the test files of the matrix', () => {
  it('are the kernel test files, less those left to the host, each naming describeWithBpf', () => {
    const files = matrixTestFiles([], false);
    const all = matrixTestFiles([], true);
    expect(files.length).toBeGreaterThan(10);
    expect(all.length).toBeGreaterThan(files.length);
    for (const file of all) expect(readFileSync(join(repoRoot, file), 'utf8')).toMatch(/\bdescribeWithBpf\(/);
    expect(files).toContain('test/dns-redirect/scenario.test.ts');
    expect(files).not.toContain('test/dns-redirect/scenario-cli.test.ts');
    expect(files).not.toContain('test/vm-tests/runner.test.ts');
  });

  it('narrow to the paths that contain a filter, and name the choices when none does', () => {
    expect(matrixTestFiles(['netlink'], false)).toEqual(['test/loader/netlink-tc.test.ts', 'test/loader/netlink-xdp.test.ts']);
    expect(() => matrixTestFiles(['no-such-file'], false)).toThrow(StepError);
    expect(() => matrixTestFiles(['scenario-cli'], false)).toThrow(/no test file of the matrix matches 'scenario-cli' \(--all adds those left to the host\); they are:\n {2}test\//);
  });
});

const FILES = ['test/a.test.ts', 'test/b.test.ts'];

function point(label: string, files: { file: string; passed: number; failed: number; failures?: string[] }[], problems: string[] = []): PointOutcome {
  return {
    label,
    release: `${label}.0-test`,
    results: { files: files.map((f) => ({ skipped: 0, durationMs: 1000, failures: [], ...f })), unhandledErrors: [] },
    problems,
    elapsedMs: 125_000,
    cpuMs: 100_000,
  };
}

describe('the report', () => {
  const green = point('6.1', [
    { file: FILES[0]!, passed: 3, failed: 0 },
    { file: FILES[1]!, passed: 2, failed: 0 },
  ]);

  it('ends with N passed, N failed and counts a file without a result, and a point that failed on its own, as failures', () => {
    expect(report([green], FILES, 130_000).at(-1)).toBe('5 passed, 0 failed');
    const crashed = point('6.12', [{ file: FILES[0]!, passed: 1, failed: 1, failures: ['a > b: expected 1 to be 2'] }], ['stopped before the tests finished']);
    expect(totals([green, crashed], FILES)).toEqual({ passed: 6, failed: 3, skipped: 0 });
    const lines = report([green, crashed], FILES, 130_000);
    expect(lines).toContain('FAIL [6.12] test/a.test.ts: a > b: expected 1 to be 2');
    expect(lines).toContain('FAIL [6.12] stopped before the tests finished');
    expect(lines.join('\n')).toMatch(/\| test\/b\.test\.ts +\| 2 passed +\| no result +\|/);
    expect(lines.at(-1)).toBe('6 passed, 3 failed');
  });

  it('writes the README block between its markers and nothing else', () => {
    const readme = join(scratch, 'README.md');
    const before = '# Title\n\nText before.\n\n<!-- vm-matrix:start (written by npm run test:vm) -->\nold table\n<!-- vm-matrix:end -->\n\nText after.\n';
    writeFileSync(readme, before);
    const status = (name: string, supported: boolean): FeatureStatus => ({ name, description: name.split(':')[1]!, supported, since: '6.6' });
    const probe = (label: string, tcx: boolean): KernelProbe => ({
      label,
      report: { kernelRelease: label, programTypes: [status('prog_type:xdp', true)], mapTypes: [], isa: [], links: [status('link:tcx', tcx)], helpers: [] } as unknown as FeatureReport,
    });
    const probes = [probe('6.1', false), probe('6.12', true)];
    expect(featureSummary(probes).join('\n')).toMatch(/^\| feature \| since \| 6\.1 \| 6\.12 \|\n\| -+ \| -+ \| -+ \| -+ \|\n\| tcx +\| 6\.6 +\| no +\| yes +\|$/);
    updateReadme([green], FILES, probes, 130_000, readme);
    const after = readFileSync(readme, 'utf8');
    expect(after.startsWith('# Title\n\nText before.\n\n<!-- vm-matrix:start')).toBe(true);
    expect(after.endsWith('<!-- vm-matrix:end -->\n\nText after.\n')).toBe(true);
    expect(after).not.toContain('old table');
    expect(after).toContain('5 passed, 0 failed; the whole matrix took 2:10.');
    writeFileSync(readme, '# No block\n');
    expect(() => updateReadme([green], FILES, probes, 130_000, readme)).toThrow(/has no kernel matrix block/);
  });
});
