/**
 * Crash safety of `bpfgen attach`, run as a child process inside a
 * namespace created here and killed with SIGKILL, which no cleanup code
 * sees:
 *
 * - attached through bpf links (XDP links, tcx), nothing stays attached:
 *   the kernel ends a link with the last descriptor, and the programs go;
 * - killed at random moments while it starts up, it leaves no XDP program;
 * - attached through netlink, the programs stay (nothing holds them but the
 *   interface), and `bpfgen detach --iface` removes them;
 * - pinned (`--pin DIR`), the attachment stays after the process is gone
 *   until `bpfgen detach --pin DIR`, which leaves nothing.
 *
 * What is attached is seen from outside bpfgen: ip, tc, and bpftool's
 * program and link lists (bpftool 7.1's `net` does not show tcx, its link
 * list does).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { compiledCli, type CompiledCli } from '../cli/compiled-cli.js';
import { describeWithBpf, privateBpffs } from '../loader/support.js';
import { Netns, type NetnsProcess } from '../support/netns.js';
import { runCli } from './support/cli-runs.js';
import { attachedIn, liveLinks, liveProgramIds, survivors } from './support/kernel-objects.js';
import { Prng } from './support/prng.js';
import { scaled } from './support/scale.js';

const ETH = 'hketh0';
const REDIRECT = ['tc-dns-redirect', '--resolver', '127.0.0.11:53', '--upstream', '198.51.100.53:53', '--container-ip', '192.0.2.2', '--eth', ETH];
const RANDOM_KILLS = scaled(4, 40);
/** Longest a foreground attach may take to say it is running. */
const START_TIMEOUT_MS = 30_000;

/** The program ids `bpfgen attach` printed ("attached  NAME (id N, tag …)"). */
function printedIds(stdout: string): Set<number> {
  return new Set([...stdout.matchAll(/\(id (\d+), tag /g)].map((m) => Number(m[1])));
}

describeWithBpf('crash safety: bpfgen attach killed with SIGKILL', () => {
  let cli: CompiledCli;
  let netns: Netns;
  let pins: { dir: string; dispose(): void };
  const main = () => join(cli.dir, 'dist', 'cli', 'main.js');

  beforeAll(() => {
    cli = compiledCli();
    netns = Netns.create('hardcrash');
    netns.addVeth(ETH, 'hketh1');
    netns.execOk('sysctl', ['-qw', 'net.ipv4.conf.lo.route_localnet=1']);
    pins = privateBpffs();
  }, 180_000);

  afterAll(async () => {
    await netns?.delete();
    pins?.dispose();
    cli?.dispose();
  });

  /** Start `bpfgen attach ARGS` in the foreground inside the namespace and wait until it runs. */
  async function attachInForeground(args: readonly string[]): Promise<{ child: NetnsProcess; ids: Set<number> }> {
    const child = netns.start(process.execPath, [main(), 'attach', ...args]);
    await child.waitForOutput(/^running /m, START_TIMEOUT_MS);
    return { child, ids: printedIds(child.stdout) };
  }

  const xdpOnLo = () => /\bxdp/.test(netns.execOk('ip', ['-d', 'link', 'show', 'lo']));
  const runningLinks = (ids: ReadonlySet<number>) => liveLinks().filter((link) => ids.has(link.prog_id));

  it('attached through bpf links (XDP, tcx): SIGKILL leaves nothing attached and no program loaded', async () => {
    for (const args of [['xdp-dns-forward', '--iface', 'lo', '--attach', 'link'], [...REDIRECT, '--attach', 'tcx']]) {
      const { child, ids } = await attachInForeground(args);
      expect(ids.size, child.stdout).toBe(args[0] === 'xdp-dns-forward' ? 1 : 2);
      expect(runningLinks(ids)).toHaveLength(ids.size);
      child.signal('SIGKILL');
      expect((await child.exited).signal).toBe('SIGKILL');
      expect(await survivors(ids)).toEqual({ programs: [], links: [] });
      expect(xdpOnLo()).toBe(false);
      expect(attachedIn(netns)).toEqual([]);
    }
  });

  it(`killed at ${RANDOM_KILLS} seeded moments while starting up: no XDP program is left on lo`, async () => {
    const rng = new Prng(0xdead_0001);
    const args = [main(), 'attach', 'xdp-dns-forward', '--iface', 'lo', '--attach', 'link'];
    // How long starting takes here, so that the kills spread over all of it and a little after.
    const started = performance.now();
    const timed = netns.start(process.execPath, args);
    await timed.waitForOutput(/^running /m, START_TIMEOUT_MS);
    const startupMs = performance.now() - started;
    timed.signal('SIGKILL');
    await timed.exited;
    let killedWhileAttached = 0;
    for (let i = 0; i < RANDOM_KILLS; i++) {
      const child = netns.start(process.execPath, args);
      await new Promise((resolve) => setTimeout(resolve, rng.int(0, Math.round(startupMs * 1.2))));
      child.signal('SIGKILL');
      await child.exited;
      const printed = printedIds(child.stdout);
      if (printed.size > 0) killedWhileAttached++;
      expect(await survivors(printed)).toEqual({ programs: [], links: [] });
      expect(xdpOnLo(), `kill ${i}: ${child.stdout}`).toBe(false);
    }
    console.log(`${RANDOM_KILLS} kills within ${Math.round(startupMs * 1.2)} ms of starting (start-up takes ${Math.round(startupMs)} ms), ${killedWhileAttached} of them after attaching`);
  });

  it('attached through netlink: the programs outlive SIGKILL, and bpfgen detach --iface removes them', async () => {
    const xdp = await attachInForeground(['xdp-dns-forward', '--iface', 'lo', '--attach', 'netlink']);
    const tc = await attachInForeground([...REDIRECT, '--attach', 'netlink']);
    for (const { child } of [xdp, tc]) {
      child.signal('SIGKILL');
      await child.exited;
    }
    const ids = new Set([...xdp.ids, ...tc.ids]);
    expect([...ids].filter((id) => liveProgramIds().has(id))).toHaveLength(3);
    expect(xdpOnLo()).toBe(true);
    expect(netns.execOk('tc', ['filter', 'show', 'dev', ETH, 'ingress'])).toMatch(/dns_redir_eth/);

    for (const iface of ['lo', ETH]) {
      const detached = await runCli(cli, ['detach', '--iface', iface], { prefix: ['ip', 'netns', 'exec', netns.name], cwd: pins.dir });
      expect(detached.status, detached.stderr).toBe(0);
    }
    expect(await survivors(ids)).toEqual({ programs: [], links: [] });
    expect(xdpOnLo()).toBe(false);
    expect(attachedIn(netns)).toEqual([]);
  });

  it('pinned: attached after the process is gone, until bpfgen detach --pin DIR, which leaves nothing', async () => {
    const inNetns = { prefix: ['ip', 'netns', 'exec', netns.name], cwd: pins.dir };
    const baseline = readdirSync(pins.dir);
    const attached = [
      await runCli(cli, ['attach', 'xdp-dns-forward', '--iface', 'lo', '--attach', 'link', '--pin', join(pins.dir, 'fwd')], inNetns),
      await runCli(cli, ['attach', ...REDIRECT, '--attach', 'tcx', '--pin', join(pins.dir, 'redirect')], inNetns),
    ];
    for (const run of attached) expect(run.status, run.stderr).toBe(0);
    const ids = new Set(attached.flatMap((run) => [...printedIds(run.stdout)]));
    expect(ids.size).toBe(3);

    // The processes have exited: the pins hold the links.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(runningLinks(ids)).toHaveLength(3);
    expect(xdpOnLo()).toBe(true);

    for (const dir of ['fwd', 'redirect']) {
      const detached = await runCli(cli, ['detach', '--pin', join(pins.dir, dir)], inNetns);
      expect(detached.status, detached.stderr).toBe(0);
    }
    expect(readdirSync(pins.dir)).toEqual(baseline);
    expect(await survivors(ids)).toEqual({ programs: [], links: [] });
    expect(xdpOnLo()).toBe(false);
  });
});
