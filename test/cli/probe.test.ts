/**
 * `bpfgen probe`: the library report as JSON, the grouped table, and one
 * line with exit code 2 for a bad program type, without privileges and
 * without the native shim.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { probeAll } from '../../src/loader/probes/index.js';
import { describeWithBpf } from '../loader/support.js';
import { compiledPackage } from '../support/compiled.js';

describeWithBpf('bpfgen probe', () => {
  // The CLI compiled to JavaScript in a world-readable directory, so that another user can run it too.
  let withShim: ReturnType<typeof compiledPackage>;
  let withoutShim: ReturnType<typeof compiledPackage>;
  let dir: string;
  let noShimDir: string;
  beforeAll(() => {
    withShim = compiledPackage();
    withoutShim = compiledPackage({ withShim: false });
    dir = withShim.dir;
    noShimDir = withoutShim.dir;
  });
  afterAll(() => {
    withShim.dispose();
    withoutShim.dispose();
  });

  const run = (root: string, args: string[], asNobody = false) => {
    const command = [process.execPath, join(root, 'dist', 'cli', 'main.js'), 'probe', ...args];
    const [file, ...argv] = asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', ...command] : command;
    return spawnSync(file!, argv, { encoding: 'utf8', timeout: 120_000, cwd: root });
  };

  it('--json prints the library report', () => {
    const child = run(dir, ['--json']);
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual(JSON.parse(JSON.stringify(probeAll())));
  });

  it('prints the table grouped, with helper counts', () => {
    const child = run(dir, ['--program-type', 'xdp', '--program-type', 'sched_cls']);
    expect(child.status).toBe(0);
    const report = probeAll({ helperProgramTypes: ['xdp', 'sched_cls'] });
    for (const heading of ['Program types:', 'Map types:', 'Instruction set:', 'Links:', 'Helpers by program type']) expect(child.stdout).toContain(heading);
    expect(child.stdout).toMatch(/^ {2}xdp +yes {2}4\.8$/m);
    for (const { programType, helpers } of report.helpers) {
      const available = helpers.filter((status) => status.supported).length;
      expect(child.stdout).toMatch(new RegExp(`^ {2}${programType}: +${available} of ${helpers.length} available; `, 'm'));
    }
    const listed = run(dir, ['--program-type', 'xdp', '--helpers']);
    expect(listed.stdout).toMatch(/^ {4}redirect_map +yes {2}4\.14$/m);
    expect(listed.stdout).toMatch(/^ {4}skb_store_bytes +no {3}4\.8 {4}the kernel has bpf_skb_store_bytes, but not for xdp programs$/m);
  });

  it('refuses a program type whose helpers cannot be probed, in one line with exit code 2', () => {
    const child = run(dir, ['--program-type', 'tracing']);
    expect(child.status).toBe(2);
    expect(child.stdout).toBe('');
    expect(child.stderr).toMatch(/^bpfgen: --program-type: 'tracing' is not a program type whose helpers can be probed .*\n$/);
  });

  it('without privileges: one line, exit code 2', () => {
    const child = run(dir, [], true);
    expect(child.status).toBe(2);
    expect(child.stdout).toBe('');
    expect(child.stderr).toMatch(/^bpfgen probe: bpf\(BPF_PROG_LOAD\) was not permitted \(EPERM\): .*CAP_BPF.*\n$/);
  });

  it('without the native shim: one line, exit code 2', () => {
    const child = run(noShimDir, []);
    expect(child.status).toBe(2);
    expect(child.stdout).toBe('');
    expect(child.stderr).toMatch(/^bpfgen probe: bpfgen cannot make system calls: the native shim is not built .*\n$/);
  });
});
