/**
 * XDP through rtnetlink, in a namespace of its own with `lo` and a veth
 * pair: what we attach is what `ip -j link` and `bpftool net` report, the
 * program really runs, a program is replaced only when asked, and detaching
 * removes only ours.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { compiledCli, type CompiledCli } from '../cli/compiled-cli.js';
import { TestNetns } from './netlink-support.js';
import { describeWithBpf } from './support.js';

interface IpLink {
  readonly ifindex: number;
  readonly xdp?: { readonly mode: number; readonly prog?: { readonly id: number }; readonly attached?: { readonly mode: number; readonly prog: { readonly id: number } }[] };
}

interface BpftoolNet {
  readonly xdp: { devname: string; ifindex: number; mode: string; id: number }[];
}

/** XDP_ATTACHED_* as `ip -j link` prints them. */
const IP_MODE = { driver: 1, skb: 2 } as const;

describeWithBpf('XDP through netlink', () => {
  let library: CompiledCli;
  let ns: TestNetns;

  /** The XDP programs `ip -j link show` lists for a device, as mode → id. */
  function ipXdp(dev: string): Record<number, number> {
    const [link] = ns.json<IpLink[]>('ip', '-j', 'link', 'show', 'dev', dev);
    const attached = link?.xdp?.attached ?? [];
    return Object.fromEntries(attached.map((entry) => [entry.mode, entry.prog.id]));
  }

  function bpftoolXdp(): BpftoolNet['xdp'] {
    return ns.json<BpftoolNet[]>('bpftool', '-j', 'net')[0]!.xdp;
  }

  beforeAll(() => {
    library = compiledCli();
    ns = new TestNetns('xdp', library);
    ns.exec('ip', 'link', 'add', 'nlx0', 'type', 'veth', 'peer', 'name', 'nlx1');
    ns.exec('ip', 'link', 'set', 'nlx0', 'up');
    ns.exec('ip', 'link', 'set', 'nlx1', 'up');
  }, 180_000);

  afterAll(() => {
    ns?.dispose();
    library?.dispose();
  });

  // Whatever a failed test left attached goes, through iproute2 rather than the code under test.
  afterEach(() => {
    for (const dev of ['lo', 'nlx0']) {
      for (const mode of ['xdpgeneric', 'xdpdrv']) ns.exec('ip', 'link', 'set', 'dev', dev, mode, 'off');
    }
  });

  it('attaches in generic mode on lo: queryXdp, ip and bpftool agree, the program runs, and detaching undoes it', () => {
    const attached = ns.run<{ id: number; attachment: unknown; query: unknown; before: number; after: number }>(`
      const drop = returning('nl_drop', 'xdp', 1);
      const before = await loopback(1);
      const attachment = bpfgen.attachXdpNetlink(drop, 'lo', { mode: 'skb' });
      return { id: drop.id, attachment: { ...attachment }, query: bpfgen.queryXdp('lo'), before, after: await loopback(2) };
    `);
    expect(attached.attachment).toEqual({ ifindex: 1, iface: 'lo', mode: 'skb', programId: attached.id });
    expect(attached.query).toEqual({ ifindex: 1, iface: 'lo', attached: 'skb', programIds: { skb: attached.id } });
    expect([attached.before, attached.after]).toEqual([1, 0]);
    // The attachment outlived the process that made it.
    expect(ipXdp('lo')).toEqual({ [IP_MODE.skb]: attached.id });
    expect(bpftoolXdp()).toEqual([{ devname: 'lo', ifindex: 1, mode: 'generic', id: attached.id }]);
    expect(ns.run(`return bpfgen.queryXdp(1).programIds;`)).toEqual({ skb: attached.id });

    const detached = ns.run<{ query: unknown; delivered: number }>(`
      bpfgen.detachXdpNetlink('lo', { mode: 'skb', expectedProgramId: ${attached.id} });
      return { query: bpfgen.queryXdp('lo'), delivered: await loopback(1) };
    `);
    expect(detached).toEqual({ query: { ifindex: 1, iface: 'lo', attached: 'none', programIds: {} }, delivered: 1 });
    expect(ipXdp('lo')).toEqual({});
    expect(bpftoolXdp()).toEqual([]);
  });

  it('replaces a program only when asked, and only the one named; detaches only ours', () => {
    const first = ns.run<number>(`
      const pass = returning('nl_first', 'xdp', 2);
      bpfgen.attachXdpNetlink(pass, 'lo', { mode: 'skb' });
      return pass.id;
    `);
    expect(() => ns.run(`bpfgen.attachXdpNetlink(returning('nl_second', 'xdp', 2), 'lo', { mode: 'skb' });`)).toThrow(
      `attaching XDP program nl_second to lo in generic (skb) mode (RTM_SETLINK) failed with EBUSY: lo already has an XDP program (id ${first} in generic (skb) mode); pass replace with that program to swap it (kernel: XDP program already attached)`,
    );
    expect(() =>
      ns.run(`
        const stranger = returning('nl_stranger', 'xdp', 2);
        bpfgen.attachXdpNetlink(returning('nl_second', 'xdp', 2), 'lo', { mode: 'skb', replace: stranger });
      `),
    ).toThrow(new RegExp(`failed with EEXIST: lo runs program id ${first} in generic \\(skb\\) mode, not the expected program id \\d+; nothing was replaced \\(kernel: Active program does not match expected\\)$`));
    expect(ipXdp('lo')).toEqual({ [IP_MODE.skb]: first });

    const second = ns.run<number>(`
      const second = returning('nl_second', 'xdp', 2);
      bpfgen.attachXdpNetlink(second, 'lo', { mode: 'skb', replace: ${first} });
      return second.id;
    `);
    expect(ipXdp('lo')).toEqual({ [IP_MODE.skb]: second });
    // The replaced program had no other holder: the kernel freed it.
    expect(() => ns.exec('bpftool', 'prog', 'show', 'id', String(first))).toThrow();

    expect(() => ns.run(`bpfgen.detachXdpNetlink('lo', { mode: 'skb', expectedProgramId: ${first} });`)).toThrow(
      new RegExp(`^lo runs program id ${second} in generic \\(skb\\) mode, not program id ${first}; nothing was detached \\(no program has id ${first} any more\\)$`),
    );
    expect(ipXdp('lo')).toEqual({ [IP_MODE.skb]: second });
    ns.run(`bpfgen.detachXdpNetlink('lo', { mode: 'skb', expectedProgramId: ${second} });`);
    expect(ipXdp('lo')).toEqual({});
  });

  it('refuses to detach a program that is not the one attached, leaving the attached one', () => {
    const result = ns.run<{ ours: number; theirs: number; error: string; query: unknown }>(`
      const theirs = returning('nl_theirs', 'xdp', 2);
      const ours = returning('nl_ours', 'xdp', 2);
      bpfgen.attachXdpNetlink(theirs, 'lo', { mode: 'skb' });
      let error = '';
      try { bpfgen.detachXdpNetlink('lo', { mode: 'skb', expectedProgramId: ours.id }); } catch (e) { error = e.message; }
      return { ours: ours.id, theirs: theirs.id, error, query: bpfgen.queryXdp('lo').programIds };
    `);
    expect(result.error).toBe(
      `detaching XDP program id ${result.ours} from lo in generic (skb) mode (RTM_SETLINK) failed with EEXIST: lo runs program id ${result.theirs} in generic (skb) mode, not program id ${result.ours}; nothing was detached (kernel: Active program does not match expected)`,
    );
    expect(result.query).toEqual({ skb: result.theirs });
    expect(ipXdp('lo')).toEqual({ [IP_MODE.skb]: result.theirs });
  });

  it('leaves a program attached through a bpf link alone, and says so', () => {
    const result = ns.run<{ id: number; query: unknown; replace: string; detach: string; after: unknown }>(`
      const linked = returning('nl_linked', 'xdp', 2);
      const link = bpfgen.attachXdp(linked, 'lo', 'skb');
      const errors = [];
      for (const action of [
        () => bpfgen.attachXdpNetlink(returning('nl_other', 'xdp', 2), 'lo', { mode: 'skb', replace: linked }),
        () => bpfgen.detachXdpNetlink('lo', { mode: 'skb', expectedProgramId: linked.id }),
      ]) {
        try { action(); errors.push('no error'); } catch (e) { errors.push(e.message); }
      }
      const query = bpfgen.queryXdp('lo').programIds;
      link.close();
      return { id: linked.id, query, replace: errors[0], detach: errors[1], after: bpfgen.queryXdp('lo').programIds };
    `);
    expect(result.query).toEqual({ skb: result.id });
    expect(result.replace).toMatch(/^attaching XDP program nl_other to lo in generic \(skb\) mode \(RTM_SETLINK\) failed with EBUSY: the generic \(skb\) XDP program of lo is attached through a bpf link; update, detach or close that link instead/);
    expect(result.detach).toMatch(/^detaching XDP program id \d+ from lo in generic \(skb\) mode \(RTM_SETLINK\) failed with EBUSY: the generic \(skb\) XDP program of lo is attached through a bpf link/);
    expect(result.after).toEqual({});
  });

  it('attaches natively on a veth end, and refuses generic beside it', () => {
    const ifindex = ns.json<IpLink[]>('ip', '-j', 'link', 'show', 'dev', 'nlx0')[0]!.ifindex;
    const native = ns.run<{ id: number; query: unknown; error: string }>(`
      const pass = returning('nl_native', 'xdp', 2);
      const attachment = bpfgen.attachXdpNetlink(pass, ${ifindex}, { mode: 'driver' });
      let error = '';
      try { bpfgen.attachXdpNetlink(returning('nl_generic', 'xdp', 2), 'nlx0', { mode: 'skb' }); } catch (e) { error = e.message; }
      return { id: attachment.programId, query: bpfgen.queryXdp('nlx0'), error };
    `);
    expect(native.query).toEqual({ ifindex, iface: 'nlx0', attached: 'driver', programIds: { driver: native.id } });
    expect(native.error).toBe(
      `attaching XDP program nl_generic to nlx0 in generic (skb) mode (RTM_SETLINK) failed with EEXIST: nlx0 has an XDP program in another mode (id ${native.id} in native (driver) mode); an interface runs generic or native XDP, not both (kernel: Native and generic XDP can't be active at the same time)`,
    );
    expect(ipXdp('nlx0')).toEqual({ [IP_MODE.driver]: native.id });
    expect(bpftoolXdp()).toEqual([{ devname: 'nlx0', ifindex, mode: 'driver', id: native.id }]);
    ns.run(`bpfgen.detachXdpNetlink('nlx0', { mode: 'driver', expectedProgramId: ${native.id} });`);
    expect(ipXdp('nlx0')).toEqual({});

    const generic = ns.run<number>(`
      const attachment = bpfgen.attachXdpNetlink(returning('nl_generic', 'xdp', 2), 'nlx0', { mode: 'skb' });
      return attachment.programId;
    `);
    expect(ipXdp('nlx0')).toEqual({ [IP_MODE.skb]: generic });
    expect(bpftoolXdp()).toEqual([{ devname: 'nlx0', ifindex, mode: 'generic', id: generic }]);
    ns.run(`bpfgen.detachXdpNetlink('nlx0', { mode: 'skb', expectedProgramId: ${generic} });`);
    expect(bpftoolXdp()).toEqual([]);
  });

  it('says clearly what is wrong: a missing interface, offload mode, a program of another type', () => {
    const errors = ns.run<Record<string, string>>(`
      const pass = returning('nl_pass', 'xdp', 2);
      const errors = {};
      const attempt = (name, action) => { try { action(); errors[name] = 'no error'; } catch (e) { errors[name] = e.name + ': ' + e.message; } };
      attempt('attach', () => bpfgen.attachXdpNetlink(pass, 'nlx-missing', { mode: 'skb' }));
      attempt('query', () => bpfgen.queryXdp(4242));
      attempt('detach', () => bpfgen.detachXdpNetlink('nlx-missing', { mode: 'skb', expectedProgramId: pass.id }));
      attempt('longName', () => bpfgen.queryXdp('an-interface-name-too-long'));
      attempt('offloadVeth', () => bpfgen.attachXdpNetlink(pass, 'nlx0', { mode: 'hardware' }));
      attempt('offloadLo', () => bpfgen.attachXdpNetlink(pass, 'lo', { mode: 'hardware' }));
      attempt('type', () => bpfgen.attachXdpNetlink(returning('nl_cls', 'sched_cls', 0), 'lo', { mode: 'skb' }));
      return errors;
    `);
    expect(errors).toEqual({
      attach: 'NetlinkError: looking up nlx-missing (RTM_GETLINK) failed with ENODEV: no network interface named nlx-missing in this network namespace',
      query: 'NetlinkError: looking up interface index 4242 (RTM_GETLINK) failed with ENODEV: no network interface has index 4242 in this network namespace',
      detach: 'NetlinkError: looking up nlx-missing (RTM_GETLINK) failed with ENODEV: no network interface named nlx-missing in this network namespace',
      longName: 'RangeError: interface name "an-interface-name-too-long" is not valid: names have 1 to 15 bytes',
      offloadVeth: expect.stringMatching(/^NetlinkError: attaching XDP program nl_pass to nlx0 in offload \(hardware\) mode \(RTM_SETLINK\) failed with EINVAL: nlx0 does not support offload \(hardware\) XDP, which needs a NIC that runs XDP itself and a program loaded for that device; use generic \(skb\) or native \(driver\) mode/),
      offloadLo: expect.stringMatching(/^NetlinkError: attaching XDP program nl_pass to lo in offload \(hardware\) mode \(RTM_SETLINK\) failed with E\w+: lo does not support offload \(hardware\) XDP/),
      type: expect.stringMatching(/^NetlinkError: attaching XDP program nl_cls to lo in generic \(skb\) mode \(RTM_SETLINK\) failed with EINVAL: the kernel refused program nl_cls for generic \(skb\) XDP on lo: it must be an XDP program/),
    });
    expect([ipXdp('lo'), ipXdp('nlx0'), bpftoolXdp()]).toEqual([{}, {}, []]);
  });

  it('leaks no descriptor, through successes and failures alike', () => {
    const counts = ns.run<{ before: number; after: number; rounds: number }>(`
      const first = returning('nl_one', 'xdp', 2);
      const second = returning('nl_two', 'xdp', 2);
      const before = fdCount();
      let rounds = 0;
      for (; rounds < 25; rounds++) {
        const attachment = bpfgen.attachXdpNetlink(first, 'lo', { mode: 'skb' });
        bpfgen.queryXdp('lo');
        try { bpfgen.attachXdpNetlink(second, 'lo', { mode: 'skb' }); } catch {}
        try { bpfgen.attachXdpNetlink(second, 'lo', { mode: 'skb', replace: second }); } catch {}
        try { bpfgen.detachXdpNetlink('lo', { mode: 'skb', expectedProgramId: second.id }); } catch {}
        try { bpfgen.queryXdp('nlx-missing'); } catch {}
        bpfgen.attachXdpNetlink(second, 'lo', { mode: 'skb', replace: first });
        bpfgen.attachXdpNetlink(first, 'lo', { mode: 'skb', replace: second.id });
        attachment.detach();
      }
      return { before, after: fdCount(), rounds };
    `);
    expect(counts.rounds).toBe(25);
    expect(counts.after).toBe(counts.before);
    expect(ipXdp('lo')).toEqual({});
  });
});
