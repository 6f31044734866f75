/**
 * `bpfgen attach`, `detach` and `demo` as users run them: compiled, as
 * child processes inside the scenario's network namespace, stopped with
 * real signals, judged by what `dig`, `ip -details link`, `bpftool` and a
 * bpf filesystem show afterwards.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBpf } from '../loader/support.js';
import { netnsNames, runCommand } from '../support/netns.js';
import { compileTree, type CompiledTree } from './compiled.js';
import { ANSWERS, startScenario, type Scenario } from './scenario.js';

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];

describeWithBpf('bpfgen attach, detach and demo', () => {
  let tree: CompiledTree;
  let scenario: Scenario;
  /** A private bpf filesystem for pins, mounted before the namespace's processes start so that they see it. */
  let bpffs: string;

  beforeAll(async () => {
    tree = compileTree();
    bpffs = mkdtempSync(join(tmpdir(), `bpfgen-dnsfwd-cli-${process.pid}-bpffs-`));
    execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs], { timeout: 10_000 });
    scenario = await startScenario('dnsfwd-cli', tree);
  }, 180_000);

  afterAll(async () => {
    await scenario?.dispose();
    if (bpffs) {
      execFileSync('umount', [bpffs], { timeout: 10_000 });
      rmSync(bpffs, { recursive: true, force: true });
    }
    tree?.dispose();
  });

  /** `bpfgen ARGS` inside the namespace, to completion. */
  const bpfgen = (args: readonly string[], prefix: readonly string[] = []) => {
    const [command, ...rest] = [...prefix, process.execPath, tree.cli, ...args];
    return scenario.netns.exec(command!, rest, { timeoutMs: 60_000 });
  };
  /** `bpfgen attach …` left running in the foreground inside the namespace, once it says it runs. */
  const foreground = async (args: readonly string[]) => {
    const started = scenario.netns.start(process.execPath, [tree.cli, 'attach', 'xdp-dns-forward', ...args]);
    await started.waitForOutput(/^running /m, 30_000);
    return started;
  };

  for (const [signal, code, method] of [
    ['SIGINT', 130, 'link'],
    ['SIGTERM', 143, 'link'],
    ['SIGINT', 130, 'netlink'],
    ['SIGTERM', 143, 'netlink'],
  ] as const) {
    it(`in the foreground through ${method}: attached until ${signal}, then detached and exit ${code}`, async () => {
      const attach = await foreground(['--iface', 'lo', '--attach', method]);
      expect(attach.stdout).toMatch(new RegExp(`^attached  xdp_dns_fwd \\(id \\d+, tag [0-9a-f]{16}\\) to lo \\(ifindex 1\\) in generic mode through ${method === 'link' ? 'a bpf_link' : 'netlink'}`, 'm'));
      expect(scenario.xdpOf('lo')).toContain('name xdp_dns_fwd');
      expect(scenario.dig()).toBe(ANSWERS.port5053);
      attach.signal(signal);
      const exit = await attach.waitForExit(15_000);
      expect(exit).toEqual({ code, signal: null });
      expect(attach.stdout).toContain(`${signal}: detached, exiting`);
      expect(attach.stderr).toBe('');
      expect(scenario.xdpOf('lo')).toBe('');
      expect(scenario.dig()).toBe(ANSWERS.dnsmasq);
    });
  }

  it('SIGKILL while attached through a link leaves nothing attached; through netlink the program stays, and detach --iface removes it', async () => {
    const linked = await foreground(['--iface', 'lo', '--attach', 'link']);
    linked.signal('SIGKILL');
    expect(await linked.waitForExit(15_000)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(scenario.xdpOf('lo')).toBe('');
    expect(scenario.dig()).toBe(ANSWERS.dnsmasq);

    const netlinked = await foreground(['--iface', 'lo', '--attach', 'netlink']);
    netlinked.signal('SIGKILL');
    await netlinked.waitForExit(15_000);
    expect(scenario.xdpOf('lo')).toContain('name xdp_dns_fwd');
    const detach = bpfgen(['detach', '--iface', 'lo']);
    expect(detach.status).toBe(0);
    expect(detach.stdout).toMatch(/^detached xdp_dns_fwd \(id \d+\) from lo \(ifindex 1\) in generic mode through netlink$/m);
    expect(scenario.xdpOf('lo')).toBe('');
  });

  it('detach --iface never touches a program bpfgen did not attach', async () => {
    const foreignId = await scenario.worker.request<number>({ op: 'attachForeign', iface: 'lo' });
    try {
      const detach = bpfgen(['detach', '--iface', 'lo']);
      expect(detach.status).toBe(1);
      expect(detach.stderr).toBe('bpfgen: detach: lo runs no program that bpfgen attached through netlink; nothing was detached\n');
      expect(scenario.xdpOf('lo')).toContain(`prog/xdp id ${foreignId} name not_bpfgen `);
    } finally {
      await scenario.worker.request({ op: 'detachForeign' });
    }
  });

  for (const [method, config, pins] of [
    ['link', 'inline', ['link_xdp', 'prog_xdp_dns_fwd']],
    ['netlink', 'inline', ['xdp-netlink-generic-1-lo']],
    ['link', 'map', ['link_xdp', 'map_dns_fwd_cfg', 'prog_xdp_dns_fwd_map']],
    ['netlink', 'map', ['map_dns_fwd_cfg', 'xdp-netlink-generic-1-lo']],
  ] as const) {
    it(`--pin through ${method}, ${config} config: pinned and left attached after exit; detach --pin undoes it and removes DIR`, () => {
      const dir = join(bpffs, `${method}-${config}`, 'fwd');
      const attach = bpfgen(['attach', 'xdp-dns-forward', '--iface', 'lo', '--attach', method, '--config', config, '--listen-port', '5054', '--pin', dir]);
      expect(attach.stderr).toBe('');
      expect(attach.status).toBe(0);
      expect(attach.stdout).toContain(`left attached; undo with: bpfgen detach --pin ${dir}`);
      expect(readdirSync(dir).sort()).toEqual([...pins].sort());
      expect(scenario.dig()).toBe(ANSWERS.port5054);
      if (config === 'map') {
        // The settings as bpftool reads them from the pinned map: 100.127.136.241, port 53, port 5054, in network order.
        const dump = JSON.parse(execFileSync('bpftool', ['--json', 'map', 'dump', 'pinned', join(dir, 'map_dns_fwd_cfg')], { encoding: 'utf8' })) as { value: string[] }[];
        expect(dump[0]!.value.map((byte) => Number(byte))).toEqual([100, 127, 136, 241, 0, 53, 0x13, 0xbe]);
      }

      const detach = bpfgen(['detach', '--pin', dir]);
      expect(detach.stderr).toBe('');
      expect(detach.status).toBe(0);
      expect(detach.stdout).toContain(method === 'link' ? `detached the link pinned at ${dir}/link_xdp` : 'from lo (ifindex 1) in generic mode through netlink');
      expect(detach.stdout).toContain(`removed ${dir} and its ${pins.length} pin${pins.length === 1 ? '' : 's'}`);
      expect(existsSync(dir)).toBe(false);
      expect(scenario.xdpOf('lo')).toBe('');
      expect(scenario.dig()).toBe(ANSWERS.dnsmasq);
    });
  }

  it('--pin refuses a directory that is not empty or not on a bpf filesystem, before attaching anything', () => {
    const full = join(bpffs, 'full');
    mkdirSync(join(full, 'something'), { recursive: true });
    const notEmpty = bpfgen(['attach', 'xdp-dns-forward', '--pin', full]);
    expect(notEmpty.status).toBe(2);
    expect(notEmpty.stderr).toBe(`bpfgen: ${full}: is not empty (it holds something); give an empty or a new directory\n`);
    const plain = join(tree.dir, 'not-bpffs');
    const notBpffs = bpfgen(['attach', 'xdp-dns-forward', '--pin', plain]);
    expect(notBpffs.status).toBe(2);
    expect(notBpffs.stderr).toMatch(new RegExp(`^bpfgen: ${plain}: not on a bpf filesystem .*\\n$`));
    expect(existsSync(plain)).toBe(false);
    expect(scenario.xdpOf('lo')).toBe('');
    rmSync(full, { recursive: true });
  });

  it('says in one line what is wrong: a missing interface, a busy interface, no privileges, a bad flag', async () => {
    const missing = bpfgen(['attach', 'xdp-dns-forward', '--iface', 'nope0']);
    expect([missing.status, missing.stderr]).toEqual([2, 'bpfgen: --iface: no network interface named nope0 in this network namespace\n']);

    const holder = await foreground(['--iface', 'lo']);
    try {
      const busy = bpfgen(['attach', 'xdp-dns-forward', '--iface', 'lo']);
      expect(busy.status).toBe(1);
      expect(busy.stderr).toMatch(/^bpfgen: attach: lo already has an XDP program \(id \d+ \(xdp_dns_fwd\) in generic mode\); pass replace \(--replace\) to swap it for this one, or detach it first\n$/);
    } finally {
      holder.signal('SIGTERM');
      await holder.waitForExit(15_000);
    }

    const unprivileged = bpfgen(['attach', 'xdp-dns-forward', '--iface', 'lo'], NOBODY);
    expect(unprivileged.status).toBe(1);
    expect(unprivileged.stderr).toMatch(/^bpfgen: attach: bpf\(BPF_PROG_LOAD\) was not permitted \(EPERM\): bpf\(\) needs root, or CAP_BPF .*\n$/);

    const badMode = bpfgen(['attach', 'xdp-dns-forward', '--mode', 'turbo']);
    expect([badMode.status, badMode.stderr]).toEqual([2, "bpfgen: --mode: 'turbo' is not one of generic, native, offload\n"]);
    const notAttachable = bpfgen(['attach', 'tc-dns-redirect-nope']);
    expect(notAttachable.status).toBe(2);
    const neither = bpfgen(['detach']);
    expect([neither.status, neither.stderr]).toEqual([2, 'bpfgen: detach: give exactly one of --pin DIR and --iface IFACE (see bpfgen detach --help)\n']);
    expect(scenario.xdpOf('lo')).toBe('');
  });

  it('bpfgen demo shows the answer change and removes its namespace', () => {
    const demo = runCommand(process.execPath, [tree.cli, 'demo'], { timeoutMs: 60_000 });
    expect(demo.stderr).toBe('');
    expect(demo.status).toBe(0);
    const lines = demo.stdout.split('\n');
    const after = (label: string) => lines.slice(lines.findIndex((line) => line.startsWith(label))).slice(0, 2).join('\n');
    expect(after('before')).toMatch(/→ 192\.0\.2\.1\n.*reply from 100\.127\.136\.241:53, answered by the daemon on 0\.0\.0\.0:53/);
    expect(after('after')).toMatch(/→ 100\.127\.16\.22\n.*reply from 100\.127\.136\.241:53, answered by the agent's resolver on 100\.127\.136\.241:5053/);
    expect(after('again')).toMatch(/→ 192\.0\.2\.1\n/);
    expect(demo.stdout).toMatch(/^program   <xdp_dns_fwd>:$/m);
    const netns = /^setup     network namespace (bpfgen-demo-\d+):/m.exec(demo.stdout)![1]!;
    expect(demo.stdout).toContain(`teardown  removed ${netns}`);
    expect(netnsNames()).not.toContain(netns);
  });

  it('bpfgen demo stopped by SIGINT tears down and exits 130', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [tree.cli, 'demo', '--config', 'map'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 20_000;
    while (!/^setup /m.test(stdout) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await exited;
    clearTimeout(timer);
    expect(code).toBe(130);
    const netns = /^setup     network namespace (bpfgen-demo-\d+):/m.exec(stdout)![1]!;
    expect(stdout).toContain(`teardown  removed ${netns}`);
    expect(netnsNames()).not.toContain(netns);
  });
});
