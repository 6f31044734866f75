/**
 * attachDnsForward with real DNS traffic: `dig` asks DNS_IP:53, dnsmasq
 * holds 0.0.0.0:53 and answers 192.0.2.1, our responder on DNS_IP:5053
 * answers 100.127.16.22. Which one answers says whether the program is
 * attached and rewriting both directions (dig refuses a reply from any
 * port but 53). The kernel's own view comes from `ip -details link`.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBpf } from '../loader/support.js';
import { emulationScaled } from '../support/emulation.js';
import { netnsNames } from '../support/netns.js';
import { compileTree, WorkerError, type CompiledTree } from './compiled.js';
import type { AttachReply } from './worker-protocol.js';
import { ANSWERS, DNS_IP, NAME, startScenario, type Scenario } from './scenario.js';

/** The stream of queries during swaps, and the rounds of the attach timing: smaller in the emulated kernel matrix. */
const STREAM = { queries: emulationScaled(2000, 300), swaps: emulationScaled(40, 8) };
const TIMING_ROUNDS = emulationScaled(15, 3);

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

describeWithBpf('attachDnsForward in a network namespace, with dig and dnsmasq', () => {
  let tree: CompiledTree;
  let scenario: Scenario;
  /** A private bpf filesystem, mounted before the namespace's processes start so that they see it. */
  let bpffs: string;

  beforeAll(async () => {
    tree = compileTree();
    bpffs = mkdtempSync(join(tmpdir(), `bpfgen-dnsfwd-lib-${process.pid}-bpffs-`));
    execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs], { timeout: 10_000 });
    scenario = await startScenario('dnsfwd-lib', tree);
  }, 180_000);

  afterAll(async () => {
    const name = scenario?.netns.name;
    await scenario?.dispose();
    if (bpffs) {
      execFileSync('umount', [bpffs], { timeout: 10_000 });
      rmSync(bpffs, { recursive: true, force: true });
    }
    tree?.dispose();
    if (name) expect(netnsNames()).not.toContain(name);
  });

  const attach = (options: Record<string, unknown>) => scenario.worker.request<AttachReply>({ op: 'attach', options });
  const close = () => scenario.worker.request({ op: 'close' });

  it('dnsmasq answers before anything is attached', () => {
    expect(scenario.xdpOf('lo')).toBe('');
    expect(scenario.dig()).toBe(ANSWERS.dnsmasq);
  });

  for (const method of ['link', 'netlink'] as const) {
    it(`attached through ${method}, queries reach the resolver on :5053 and come back from :53; detached, dnsmasq answers again`, async () => {
      const { info, lines } = await attach({ iface: 'lo', dnsIp: DNS_IP, listenPort: 5053, attach: method });
      expect(info.method).toBe(method);
      expect(lines.join('\n')).toContain(`through ${method === 'link' ? 'a bpf_link' : 'netlink'}`);
      expect(scenario.xdpOf('lo')).toMatch(new RegExp(`xdpgeneric[\\s\\S]*prog/xdp id ${info.programId} name xdp_dns_fwd `));
      expect(scenario.dig()).toBe(ANSWERS.port5053);
      expect(scenario.dig(['+norecurse'])).toBe(ANSWERS.port5053);
      await close();
      expect(scenario.xdpOf('lo')).toBe('');
      expect(scenario.dig()).toBe(ANSWERS.dnsmasq);
    });
  }

  it('inline: update() swaps in a program built with the new settings (a new program id) without detaching', async () => {
    const { info } = await attach({ iface: 'lo', dnsIp: DNS_IP, listenPort: 5053 });
    expect(scenario.dig()).toBe(ANSWERS.port5053);
    const updated = await scenario.worker.request<AttachReply['info']>({ op: 'update', changes: { listenPort: 5054 } });
    expect(updated.programId).not.toBe(info.programId);
    expect(scenario.xdpOf('lo')).toContain(`prog/xdp id ${updated.programId} name xdp_dns_fwd `);
    expect(scenario.dig()).toBe(ANSWERS.port5054);
    await close();
    expect(scenario.dig()).toBe(ANSWERS.dnsmasq);
  });

  it('map: update() rewrites the settings in the map while the same program stays attached', async () => {
    for (const method of ['link', 'netlink'] as const) {
      const { info } = await attach({ iface: 'lo', dnsIp: DNS_IP, listenPort: 5053, config: 'map', attach: method });
      expect(info.programName).toBe('xdp_dns_fwd_map');
      expect(scenario.dig()).toBe(ANSWERS.port5053);
      const updated = await scenario.worker.request<AttachReply['info']>({ op: 'update', changes: { listenPort: 5054 } });
      expect(updated.programId).toBe(info.programId);
      expect(scenario.dig()).toBe(ANSWERS.port5054);
      await scenario.worker.request({ op: 'update', changes: { dnsIp: '100.127.0.1' } });
      expect(scenario.dig()).toBe(ANSWERS.dnsmasq); // queries to DNS_IP are no longer the program's business
      await close();
      expect(scenario.xdpOf('lo')).toBe('');
    }
  });

  for (const method of ['link', 'netlink'] as const) {
    it(`inline swaps through ${method} under a stream of ${STREAM.queries.toLocaleString('en')} dig queries lose or misroute none`, async () => {
      await attach({ iface: 'lo', dnsIp: DNS_IP, listenPort: 5053, attach: method });
      const batch = Array.from({ length: STREAM.queries }, () => `@${DNS_IP} -p 53 ${NAME} A`).join('\n');
      const batchFile = `${scenario.tree.dir}/batch-${method}`;
      scenario.netns.execOk('sh', ['-c', `cat > ${batchFile}`], { input: `${batch}\n` });
      const dig = scenario.netns.start('dig', ['-f', batchFile, '+short', '+tries=1', `+timeout=${emulationScaled(1, 5)}`]);
      // Swap every 20 ms while the stream runs (dig takes about a second for 2,000 queries on the host).
      const ids = await scenario.worker.request<number[]>({ op: 'swaps', count: STREAM.swaps, intervalMs: 20 });
      const exit = await dig.waitForExit(30_000);
      expect(exit?.code).toBe(0);
      const answers = dig.stdout.trim().split('\n');
      const tally = Object.fromEntries([...new Set(answers)].map((answer) => [answer, answers.filter((a) => a === answer).length]));
      console.log(`${method}: ${ids.length} swaps during ${STREAM.queries} queries; answers ${JSON.stringify(tally)}`);
      expect(new Set(ids).size).toBe(ids.length);
      expect(tally).toEqual({ [ANSWERS.port5053]: STREAM.queries });
      await close();
    }, 60_000);
  }

  it('pinned: an inline update re-points the pin at the new program, and bpfgen detach --pin undoes it after the process let go', async () => {
    const dir = join(bpffs, 'fwd');
    const record = join(dir, 'xdp-netlink-generic-1-lo');
    const pinnedId = () => (JSON.parse(execFileSync('bpftool', ['--json', 'prog', 'show', 'pinned', record], { encoding: 'utf8' })) as { id: number }).id;
    const { info } = await attach({ iface: 'lo', attach: 'netlink', pin: dir });
    expect(info.pins).toEqual([record]);
    expect(pinnedId()).toBe(info.programId);
    const updated = await scenario.worker.request<AttachReply['info']>({ op: 'update', changes: { listenPort: 5054 } });
    expect(readdirSync(dir)).toEqual(['xdp-netlink-generic-1-lo']);
    expect(pinnedId()).toBe(updated.programId);
    await scenario.worker.request({ op: 'release' });
    expect(scenario.dig()).toBe(ANSWERS.port5054);
    const detach = scenario.netns.exec(process.execPath, [tree.cli, 'detach', '--pin', dir]);
    expect(detach.stdout).toContain(`detached xdp_dns_fwd (id ${updated.programId}) from lo (ifindex 1) in generic mode through netlink`);
    expect(existsSync(dir)).toBe(false);
    expect(scenario.xdpOf('lo')).toBe('');
  });

  it('refuses clearly: a missing interface, an interface that has an XDP program, a mode lo lacks', async () => {
    await expect(attach({ iface: 'nope0' })).rejects.toThrow(/no network interface named nope0 in this network namespace/);
    await expect(attach({ iface: 'lo', mode: 'native', attach: 'link' })).rejects.toThrow(/lo does not support native XDP: its driver has no XDP of its own/);
    await expect(attach({ iface: 'lo', mode: 'native', attach: 'netlink' })).rejects.toThrow(/lo does not support native .*XDP/);
    await expect(attach({ iface: 'lo', listenPort: 70000 })).rejects.toThrow(/--listen-port: 70000 is not a port number/);
    await expect(attach({ iface: 'lo', config: 'registry' })).rejects.toThrow(/--config: 'registry' is not one of inline, map/);

    const foreignId = await scenario.worker.request<number>({ op: 'attachForeign', iface: 'lo' });
    for (const method of ['link', 'netlink', 'auto']) {
      const refusal = attach({ iface: 'lo', attach: method });
      await expect(refusal).rejects.toBeInstanceOf(WorkerError);
      await expect(refusal).rejects.toThrow(`lo already has an XDP program (id ${foreignId} (not_bpfgen) in generic mode)`);
    }
    expect(scenario.xdpOf('lo')).toContain(`prog/xdp id ${foreignId} name not_bpfgen `);

    // Asked to, it replaces the foreign program atomically, and detaching leaves the interface empty.
    const { info } = await attach({ iface: 'lo', replace: true });
    expect(info.method).toBe('netlink');
    expect(scenario.dig()).toBe(ANSWERS.port5053);
    await close();
    expect(scenario.xdpOf('lo')).toBe('');
    await scenario.worker.request({ op: 'detachForeign' });
  });

  it(`measures the time from options to attached (median of ${TIMING_ROUNDS} per method and config)`, async () => {
    const report: string[] = [];
    for (const method of ['link', 'netlink'] as const) {
      for (const config of ['inline', 'map'] as const) {
        const times = await scenario.worker.request<number[]>({ op: 'attachTimes', options: { iface: 'lo', attach: method, config }, rounds: TIMING_ROUNDS });
        report.push(`${method}/${config} ${median(times).toFixed(2)} ms`);
        expect(median(times)).toBeLessThan(1000);
      }
    }
    console.log(`options → attached (median of ${TIMING_ROUNDS}): ${report.join(', ')}`);
    expect(scenario.xdpOf('lo')).toBe('');
  }, 120_000);
});
