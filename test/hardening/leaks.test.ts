/**
 * Leaks: load / attach / detach / close cycles of every program, each way
 * it can be attached, inside a namespace created here (this thread enters
 * it, so interface names and attachments are the namespace's). Afterwards
 * this process has exactly the descriptors it had before, the kernel's
 * program and link lists (bpftool) hold none of the programs the cycles
 * loaded, and bpftool net, ip and tc show nothing attached in the namespace.
 *
 * 300 cycles by default; 10,000 with BPFGEN_LONG=1.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { attachDnsForward } from '../../src/loader/dns-forward.js';
import { attachDnsRedirect } from '../../src/loader/dns-redirect.js';
import { loadProgram } from '../../src/loader/index.js';
import { openPacketSocket } from '../../src/loader/packet-socket.js';
import { buildSocketDnsFilter } from '../../src/programs/socket-dns-filter.js';
import { describeWithBpf, openFdCount } from '../loader/support.js';
import { Netns } from '../support/netns.js';
import { attachedIn, enterNetns, survivors } from './support/kernel-objects.js';
import { scaled, scaledTimeout } from './support/scale.js';

const CYCLES = scaled(300, 10_000);
/** The namespace's interface towards "upstream", for tc-dns-redirect's eth half. */
const ETH = 'hleth0';
const REDIRECT_SETTINGS = { resolver: '127.0.0.11:53', upstream: '198.51.100.53:53', containerIp: '192.0.2.2' } as const;

interface Cycle {
  readonly name: string;
  /** Load, attach, detach and close once; adds the ids of the programs it loaded. */
  run(loaded: Set<number>): Promise<void>;
}

const CYCLE_KINDS: readonly Cycle[] = [
  {
    name: 'xdp-dns-forward through a bpf link, inline settings, swapped once by update()',
    async run(loaded) {
      const forward = await attachDnsForward({ iface: 'lo', attach: 'link', config: 'inline' });
      loaded.add(forward.info.programId);
      await forward.update({ listenPort: 5054 });
      loaded.add(forward.info.programId);
      await forward.close();
    },
  },
  {
    name: 'xdp-dns-forward through netlink, settings in a map, changed once',
    async run(loaded) {
      const forward = await attachDnsForward({ iface: 'lo', attach: 'netlink', config: 'map' });
      loaded.add(forward.info.programId);
      await forward.update({ dnsPort: 5353 });
      await forward.close();
    },
  },
  {
    name: 'tc-dns-redirect through tcx links',
    async run(loaded) {
      const redirect = await attachDnsRedirect({ ...REDIRECT_SETTINGS, lo: 'lo', eth: ETH, attach: 'tcx' });
      loaded.add(redirect.info.lo.programId).add(redirect.info.eth.programId);
      await redirect.close();
    },
  },
  {
    name: 'tc-dns-redirect through netlink (clsact and cls_bpf)',
    async run(loaded) {
      const redirect = await attachDnsRedirect({ ...REDIRECT_SETTINGS, lo: 'lo', eth: ETH, attach: 'netlink' });
      loaded.add(redirect.info.lo.programId).add(redirect.info.eth.programId);
      await redirect.close();
    },
  },
  {
    name: 'socket-dns-filter on a packet socket',
    async run(loaded) {
      const filter = loadProgram(buildSocketDnsFilter());
      loaded.add(filter.id);
      try {
        openPacketSocket({ iface: 'lo', filter }).close();
      } finally {
        filter.close();
      }
    },
  },
];

describeWithBpf('leaks: load / attach / detach / close cycles in a namespace', () => {
  let netns: Netns | undefined;
  let leave: (() => void) | undefined;

  beforeAll(() => {
    netns = Netns.create('hardleak');
    netns.addVeth(ETH, 'hleth1');
    // Answers redirected into lo need it; set here so that the cycles only check it.
    netns.execOk('sysctl', ['-qw', 'net.ipv4.conf.lo.route_localnet=1']);
    leave = enterNetns(netns);
  });

  afterAll(async () => {
    leave?.();
    await netns?.delete();
  });

  it(
    `${CYCLES} cycles over ${CYCLE_KINDS.length} ways of attaching leave no descriptor, program, link or attachment behind`,
    async () => {
      const loaded = new Set<number>();
      // One cycle of each kind first: descriptors opened once per process (the shim, kallsyms, ...) belong to the baseline.
      for (const kind of CYCLE_KINDS) await kind.run(loaded);
      const descriptors = openFdCount();
      const started = performance.now();
      for (let i = 0; i < CYCLES; i++) await CYCLE_KINDS[i % CYCLE_KINDS.length]!.run(loaded);
      const ms = Math.round(performance.now() - started);
      console.log(`${CYCLES} cycles (${CYCLE_KINDS.map((k) => k.name).join('; ')}) in ${ms} ms, ${loaded.size} programs loaded`);

      expect(openFdCount()).toBe(descriptors);
      expect(loaded.size).toBeGreaterThanOrEqual(CYCLES);
      expect(await survivors(loaded)).toEqual({ programs: [], links: [] });
      expect(attachedIn(netns!)).toEqual([]);
      expect(netns!.execOk('ip', ['-d', 'link', 'show', 'lo'])).not.toMatch(/xdp/);
      expect(netns!.execOk('tc', ['qdisc', 'show', 'dev', ETH])).not.toMatch(/clsact/);
      expect(netns!.execOk('tc', ['qdisc', 'show', 'dev', 'lo'])).not.toMatch(/clsact/);
    },
    scaledTimeout(90_000, 1_800_000),
  );
});
