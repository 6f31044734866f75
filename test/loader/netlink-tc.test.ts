/**
 * tc through rtnetlink, in a namespace of its own with `lo` and a veth
 * pair: clsact and cls_bpf filters as `tc -j` and `bpftool net` see them,
 * traffic through the programs, and removal of only what we added.
 */
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { compiledCli, type CompiledCli } from '../cli/compiled-cli.js';
import { TestNetns } from './netlink-support.js';
import { describeWithBpf } from './support.js';

interface TcQdisc {
  readonly kind: string;
  readonly handle: string;
  readonly parent?: string;
}

interface TcFilter {
  readonly protocol: string;
  readonly pref: number;
  readonly kind: string;
  readonly options?: { readonly handle?: string; readonly bpf_name?: string; readonly 'direct-action'?: boolean; readonly prog?: { readonly id: number; readonly tag: string } };
}

interface BpftoolNet {
  readonly tc: { devname: string; ifindex: number; kind: string; name: string; id: number }[];
}

describeWithBpf('tc through netlink', () => {
  let library: CompiledCli;
  let ns: TestNetns;

  const qdiscs = (dev: string) => ns.json<TcQdisc[]>('tc', '-j', 'qdisc', 'show', 'dev', dev).filter((qdisc) => qdisc.parent === 'ffff:fff1');
  /** The filters `tc -j filter show` lists, without the per-priority header lines. */
  const tcFilters = (dev: string, direction: string) => ns.json<TcFilter[]>('tc', '-j', 'filter', 'show', 'dev', dev, direction).filter((filter) => filter.options);
  const bpftoolTc = () => ns.json<BpftoolNet[]>('bpftool', '-j', 'net')[0]!.tc;

  beforeAll(() => {
    library = compiledCli();
    ns = new TestNetns('tc', library);
    ns.exec('ip', 'link', 'add', 'nlt0', 'type', 'veth', 'peer', 'name', 'nlt1');
    ns.exec('ip', 'link', 'set', 'nlt0', 'up');
    ns.exec('ip', 'link', 'set', 'nlt1', 'up');
  }, 180_000);

  afterAll(() => {
    ns?.dispose();
    library?.dispose();
  });

  // Whatever a failed test left goes, through tc rather than the code under test; the qdisc takes its filters with it.
  afterEach(() => {
    for (const dev of ['lo', 'nlt0', 'nlt1']) {
      for (const qdisc of qdiscs(dev)) ns.exec('tc', 'qdisc', 'del', 'dev', dev, qdisc.kind === 'clsact' ? 'clsact' : 'ingress');
    }
  });

  it('creates clsact once; the second call finds it; only the creator removes it', () => {
    const [first, second] = ns.run<[unknown, unknown]>(`return [bpfgen.ensureClsact('lo'), bpfgen.ensureClsact('lo')];`);
    expect(first).toEqual({ ifindex: 1, iface: 'lo', created: true });
    expect(second).toEqual({ ifindex: 1, iface: 'lo', created: false });
    expect(qdiscs('lo')).toEqual([{ kind: 'clsact', handle: 'ffff:', parent: 'ffff:fff1', options: {} }]);

    expect(ns.run(`return bpfgen.removeClsactIfCreated(${JSON.stringify(second)});`)).toBe(false);
    expect(qdiscs('lo')).toHaveLength(1);
    expect(ns.run(`return bpfgen.removeClsactIfCreated(${JSON.stringify(first)});`)).toBe(true);
    expect(qdiscs('lo')).toEqual([]);
    // Gone already: nothing to do.
    expect(ns.run(`return bpfgen.removeClsactIfCreated(${JSON.stringify(first)});`)).toBe(false);
  });

  it('adds direct-action filters on ingress and egress that tc and bpftool list with our program', () => {
    const added = ns.run<{ id: number; state: unknown; ingress: unknown; egress: unknown }>(`
      const state = bpfgen.ensureClsact('lo');
      const program = returning('nl_tc', 'sched_cls', 0);
      bpfgen.attachTcFilter(program, 'lo', 'ingress', { priority: 10, handle: 3 });
      bpfgen.attachTcFilter(program, 'lo', 'egress', { priority: 20, handle: 0xfffffffe });
      return { id: program.id, state, ingress: bpfgen.listTcFilters('lo', 'ingress'), egress: bpfgen.listTcFilters(1, 'egress') };
    `);
    const tag = ns.json<{ tag: string }>('bpftool', '-j', 'prog', 'show', 'id', String(added.id)).tag;
    const listed = (priority: number, handle: number) => [{ priority, handle, protocol: 3, kind: 'bpf', chain: 0, bpf: { programId: added.id, programName: 'nl_tc', directAction: true, tag } }];
    expect(added.ingress).toEqual(listed(10, 3));
    expect(added.egress).toEqual(listed(20, 0xfffffffe));

    const shown = (pref: number, handle: string) => [
      { protocol: 'all', pref, kind: 'bpf', chain: 0, options: expect.objectContaining({ handle, bpf_name: 'nl_tc', 'direct-action': true, prog: expect.objectContaining({ id: added.id, tag }) }) },
    ];
    expect(tcFilters('lo', 'ingress')).toEqual(shown(10, '0x3'));
    expect(tcFilters('lo', 'egress')).toEqual(shown(20, '0xfffffffe'));
    expect(bpftoolTc()).toEqual([
      { devname: 'lo', ifindex: 1, kind: 'clsact/ingress', name: 'nl_tc', id: added.id },
      { devname: 'lo', ifindex: 1, kind: 'clsact/egress', name: 'nl_tc', id: added.id },
    ]);

    const removed = ns.run(`
      bpfgen.detachTcFilter('lo', 'ingress', { priority: 10, handle: 3, expectedProgramId: ${added.id} });
      bpfgen.detachTcFilter('lo', 'egress', { priority: 20, handle: 0xfffffffe, expectedProgramId: ${added.id} });
      return bpfgen.removeClsactIfCreated(${JSON.stringify(added.state)});
    `);
    expect(removed).toBe(true);
    expect(bpftoolTc()).toEqual([]);
    expect(qdiscs('lo')).toEqual([]);
  });

  it('runs the programs on traffic: counters on both hooks see every datagram, a dropping program stops them', () => {
    const seen = ns.run<Record<string, number | boolean>>(`
      const state = bpfgen.ensureClsact('lo');
      const countIn = counting('nl_count_in', 0);
      const countOut = counting('nl_count_out', 0);
      const ingress = bpfgen.attachTcFilter(countIn, 'lo', 'ingress', { priority: 1, handle: 1 });
      const egress = bpfgen.attachTcFilter(countOut, 'lo', 'egress', { priority: 1, handle: 1 });
      const answered = await loopback(3);
      const hitsIn = hits(countIn);
      const hitsOut = hits(countOut);
      // TC_ACT_SHOT swapped in place of the counter, then the counter back.
      const drop = returning('nl_shot', 'sched_cls', 2);
      bpfgen.attachTcFilter(drop, 'lo', 'ingress', { priority: 1, handle: 1, replace: countIn });
      const whileDropping = await loopback(1);
      bpfgen.attachTcFilter(countIn, 'lo', 'ingress', { priority: 1, handle: 1, replace: drop });
      const afterwards = await loopback(1);
      ingress.detach();
      egress.detach();
      return { answered, hitsIn, hitsOut, whileDropping, afterwards, hitsInAfter: hits(countIn), removed: bpfgen.removeClsactIfCreated(state) };
    `);
    expect(seen).toEqual({
      answered: 3,
      hitsIn: expect.toSatisfy((n: number) => n >= 3),
      hitsOut: expect.toSatisfy((n: number) => n >= 3),
      whileDropping: 0,
      afterwards: 1,
      hitsInAfter: expect.toSatisfy((n: number) => n >= (seen.hitsIn as number) + 1),
      removed: true,
    });
  });

  it('removes only our filter: another bpf filter and a u32 filter at other priorities stay, and so does a clsact we did not create', () => {
    ns.exec('tc', 'qdisc', 'add', 'dev', 'nlt0', 'clsact');
    ns.exec('tc', 'filter', 'add', 'dev', 'nlt0', 'ingress', 'prio', '9', 'u32', 'match', 'u32', '0', '0');
    const result = ns.run<{ ours: number; theirs: number; state: unknown; errors: string[]; removed: boolean }>(`
      const state = bpfgen.ensureClsact('nlt0');
      const ours = returning('nl_ours', 'sched_cls', 0);
      const theirs = returning('nl_theirs', 'sched_cls', 0);
      const mine = bpfgen.attachTcFilter(ours, 'nlt0', 'ingress', { priority: 5, handle: 1 });
      bpfgen.attachTcFilter(theirs, 'nlt0', 'ingress', { priority: 7, handle: 1 });
      const errors = [];
      const attempt = (action) => { try { action(); errors.push('no error'); } catch (e) { errors.push(e.message); } };
      attempt(() => bpfgen.detachTcFilter('nlt0', 'ingress', { priority: 7, handle: 1, expectedProgramId: ours.id }));
      attempt(() => bpfgen.attachTcFilter(ours, 'nlt0', 'ingress', { priority: 7, handle: 1 }));
      attempt(() => bpfgen.attachTcFilter(ours, 'nlt0', 'ingress', { priority: 7, handle: 1, replace: ours }));
      attempt(() => bpfgen.attachTcFilter(ours, 'nlt0', 'ingress', { priority: 9, handle: 1 }));
      mine.detach();
      attempt(() => mine.detach());
      return { ours: ours.id, theirs: theirs.id, state, errors, removed: bpfgen.removeClsactIfCreated(state) };
    `);
    expect(result.state).toEqual({ ifindex: expect.any(Number), iface: 'nlt0', created: false });
    expect(result.errors).toEqual([
      `the ingress filter of nlt0 at priority 7, handle 1 runs program id ${result.theirs}, not program id ${result.ours}; nothing was detached`,
      `adding the ingress filter of nlt0 at priority 7, handle 1 with nl_ours (RTM_NEWTFILTER) failed with EEXIST: nlt0 already has an ingress filter at priority 7, handle 1 (it runs program id ${result.theirs}); pass replace with its program to swap it, or choose another priority or handle (kernel: Filter already exists)`,
      `the ingress filter of nlt0 at priority 7, handle 1 runs program id ${result.theirs}, not the expected program id ${result.ours}; nothing was replaced`,
      expect.stringMatching(/^adding the ingress filter of nlt0 at priority 9, handle 1 with nl_ours \(RTM_NEWTFILTER\) failed with EINVAL: priority 9 on the ingress of nlt0 holds u32 filters; a priority has one classifier kind: choose another priority/),
      `the ingress filter of nlt0 at priority 5, handle 1 does not exist, not program id ${result.ours}; nothing was detached`,
    ]);
    expect(result.removed).toBe(false);
    const left = tcFilters('nlt0', 'ingress');
    expect(left.filter((filter) => filter.kind === 'bpf').map((filter) => [filter.pref, filter.options?.prog?.id])).toEqual([[7, result.theirs]]);
    // u32 lists its hash table and its filter.
    expect(new Set(left.filter((filter) => filter.kind !== 'bpf').map((filter) => `${filter.kind} ${filter.pref}`))).toEqual(new Set(['u32 9']));
    expect(qdiscs('nlt0').map((qdisc) => qdisc.kind)).toEqual(['clsact']);
  });

  it('keeps a clsact it created while others have filters on it, and removes it once they are gone', () => {
    const state = ns.run(`return bpfgen.ensureClsact('nlt0');`);
    expect(state).toMatchObject({ created: true });
    ns.exec('tc', 'filter', 'add', 'dev', 'nlt0', 'egress', 'prio', '3', 'u32', 'match', 'u32', '0', '0');
    expect(ns.run(`return bpfgen.removeClsactIfCreated(${JSON.stringify(state)});`)).toBe(false);
    expect(qdiscs('nlt0').map((qdisc) => qdisc.kind)).toEqual(['clsact']);
    ns.exec('tc', 'filter', 'del', 'dev', 'nlt0', 'egress', 'prio', '3');
    expect(ns.run(`return bpfgen.removeClsactIfCreated(${JSON.stringify(state)});`)).toBe(true);
    expect(qdiscs('nlt0')).toEqual([]);
  });

  it('says clearly what is wrong: no clsact, an ingress qdisc in its place, a missing interface, a bad priority, a program of another type', () => {
    ns.exec('tc', 'qdisc', 'add', 'dev', 'nlt1', 'ingress');
    const errors = ns.run<Record<string, unknown>>(`
      const program = returning('nl_cls', 'sched_cls', 0);
      const errors = {};
      const attempt = (name, action) => { try { errors[name] = action() ?? 'no error'; } catch (e) { errors[name] = e.name + ': ' + e.message; } };
      attempt('noClsact', () => bpfgen.attachTcFilter(program, 'nlt0', 'ingress', { priority: 1, handle: 1 }));
      attempt('list', () => bpfgen.listTcFilters('nlt0', 'egress'));
      attempt('ingressQdisc', () => bpfgen.ensureClsact('nlt1'));
      attempt('missing', () => bpfgen.ensureClsact('nlt-missing'));
      attempt('priority', () => bpfgen.attachTcFilter(program, 'nlt0', 'ingress', { priority: 70000 }));
      attempt('handle', () => bpfgen.detachTcFilter('nlt0', 'ingress', { priority: 1, handle: 0, expectedProgramId: program.id }));
      bpfgen.ensureClsact('nlt0');
      attempt('type', () => bpfgen.attachTcFilter(returning('nl_xdp', 'xdp', 2), 'nlt0', 'egress', { priority: 1, handle: 1 }));
      return errors;
    `);
    expect(errors).toEqual({
      noClsact: `NetlinkError: adding the ingress filter of nlt0 at priority 1, handle 1 with nl_cls (RTM_NEWTFILTER) failed with EINVAL: nlt0 has no clsact qdisc: create it first (ensureClsact) (kernel: Parent Qdisc doesn't exists)`,
      list: [],
      ingressQdisc:
        'Error: nlt1 has an ingress qdisc in the place clsact needs (parent ffff:fff1); clsact does everything ingress does: remove it (`tc qdisc del dev nlt1 ingress`) and its filters with it, or use tcx',
      missing: 'NetlinkError: looking up nlt-missing (RTM_GETLINK) failed with ENODEV: no network interface named nlt-missing in this network namespace',
      priority: 'RangeError: tc filter priority 70000 is out of range: it must be 1 to 65535',
      handle: 'RangeError: tc filter handle 0 is out of range: it must be 1 to 4294967295',
      type: expect.stringMatching(
        /^NetlinkError: adding the egress filter of nlt0 at priority 1, handle 1 with nl_xdp \(RTM_NEWTFILTER\) failed with EINVAL: the kernel refused program nl_xdp as a direct-action cls_bpf filter: it must be a sched_cls \(or sched_act\) program/,
      ),
    });
    expect(qdiscs('nlt1').map((qdisc) => qdisc.kind)).toEqual(['ingress']);
    expect(tcFilters('nlt0', 'egress')).toEqual([]);
  });

  it('lists hundreds of filters, a dump that spans many datagrams, as tc does', () => {
    const listed = ns.run<{ id: number; filters: { priority: number; handle: number; bpf: { programId: number } }[] }>(`
      const state = bpfgen.ensureClsact('nlt0');
      const program = returning('nl_many', 'sched_cls', 0);
      for (let handle = 1; handle <= 400; handle++) bpfgen.attachTcFilter(program, 'nlt0', 'egress', { priority: 1 + (handle % 3), handle });
      return { id: program.id, filters: bpfgen.listTcFilters('nlt0', 'egress') };
    `);
    expect(listed.filters).toHaveLength(400);
    const key = (priority: number, handle: number) => `${priority}/${handle}`;
    const shown = tcFilters('nlt0', 'egress').map((filter): [string, number] => [key(filter.pref, Number(filter.options!.handle)), filter.options!.prog!.id]);
    expect(new Map(listed.filters.map((filter) => [key(filter.priority, filter.handle), filter.bpf.programId]))).toEqual(new Map(shown));
    expect(new Set(listed.filters.map((filter) => filter.bpf.programId))).toEqual(new Set([listed.id]));
  });

  it('leaks no descriptor, through successes and failures alike', () => {
    const counts = ns.run<{ before: number; after: number; rounds: number }>(`
      const first = returning('nl_one', 'sched_cls', 0);
      const second = returning('nl_two', 'sched_cls', 0);
      const before = fdCount();
      let rounds = 0;
      for (; rounds < 25; rounds++) {
        const state = bpfgen.ensureClsact('nlt0');
        bpfgen.ensureClsact('nlt0');
        const filter = bpfgen.attachTcFilter(first, 'nlt0', 'ingress', { priority: 2, handle: 2 });
        try { bpfgen.attachTcFilter(second, 'nlt0', 'ingress', { priority: 2, handle: 2 }); } catch {}
        try { bpfgen.detachTcFilter('nlt0', 'ingress', { priority: 2, handle: 2, expectedProgramId: second.id }); } catch {}
        try { bpfgen.ensureClsact('nlt-missing'); } catch {}
        bpfgen.attachTcFilter(second, 'nlt0', 'ingress', { priority: 2, handle: 2, replace: first });
        bpfgen.listTcFilters('nlt0', 'ingress');
        bpfgen.detachTcFilter('nlt0', 'ingress', { priority: 2, handle: 2, expectedProgramId: second.id });
        try { filter.detach(); } catch {}
        bpfgen.removeClsactIfCreated(state);
      }
      return { before, after: fdCount(), rounds };
    `);
    expect(counts.rounds).toBe(25);
    expect(counts.after).toBe(counts.before);
    expect(qdiscs('nlt0')).toEqual([]);
  });
});
