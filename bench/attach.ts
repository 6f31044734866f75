/**
 * (2) From options to a program loaded, and to one loaded and attached:
 * xdp-dns-forward on `lo` of the benchmark's own network namespace through
 * the library call an agent makes (attachDnsForward, inline and map
 * config), against the bare syscalls for the same bytes: BPF_PROG_LOAD (the
 * request bpfgen makes, captured and replayed) and PROG_LOAD followed by
 * LINK_CREATE. What each round loads or attaches is detached and closed
 * outside the timed region; the order rotates every round, since the kernel
 * frees programs asynchronously.
 */
import { attachDnsForward } from '../src/loader/dns-forward.js';
import { interfaceIndex, loadProgram, native } from '../src/loader/index.js';
import { linkCreateAttr } from '../src/loader/attr.js';
import { BpfCommand } from '../src/loader/uapi.js';
import { PROGRAMS } from '../src/programs/index.js';
import { captureProgLoad, replayProgLoad } from './prog-load.js';
import { elapsedNs, summarize, type Summary } from './stats.js';
import { formatTable, micros, times } from './table.js';

const PROGRAM = 'xdp-dns-forward';
const INTERFACE = 'lo';
const LINK_CREATE = BpfCommand.LINK_CREATE.value;
const WARMUP_ROUNDS = 10;

type Step = 'loaded' | 'attachedInline' | 'attachedMap' | 'progLoad' | 'progLoadLinkCreate';
const STEPS: readonly Step[] = ['loaded', 'attachedInline', 'attachedMap', 'progLoad', 'progLoadLinkCreate'];

export interface AttachResult {
  readonly program: string;
  readonly interface: string;
  readonly rounds: number;
  /** Nanoseconds: bpfgen's options → loaded (build + load) and → attached (attachDnsForward, inline and map config); the bare syscalls. */
  readonly ns: Record<Step, Summary>;
  /** attachedInline over the bare PROG_LOAD + LINK_CREATE. */
  readonly ratio: number;
}

export async function measureAttach(options: Readonly<Record<string, string | number>>, rounds: number): Promise<AttachResult> {
  const entry = PROGRAMS[PROGRAM]!;
  const ifindex = interfaceIndex(INTERFACE);
  const request = captureProgLoad(entry.build(options, { captureSites: false }));
  const shim = native();
  const samples: Record<Step, number[]> = { loaded: [], attachedInline: [], attachedMap: [], progLoad: [], progLoadLinkCreate: [] };

  const run = async (step: Step): Promise<number> => {
    const start = process.hrtime.bigint();
    switch (step) {
      case 'loaded': {
        const program = loadProgram(entry.build(options));
        const ns = elapsedNs(start);
        program.close();
        return ns;
      }
      case 'attachedInline':
      case 'attachedMap': {
        const forward = await attachDnsForward({ ...options, iface: INTERFACE, config: step === 'attachedMap' ? 'map' : 'inline' });
        const ns = elapsedNs(start);
        await forward.close();
        return ns;
      }
      case 'progLoad': {
        const fd = replayProgLoad(request);
        const ns = elapsedNs(start);
        shim.close(fd);
        return ns;
      }
      case 'progLoadLinkCreate': {
        const fd = replayProgLoad(request);
        const link = shim.bpf(LINK_CREATE, linkCreateAttr({ progFd: fd, target: ifindex, attachType: 'xdp' }).attr.bytes, []);
        const ns = elapsedNs(start);
        shim.close(link);
        shim.close(fd);
        return ns;
      }
    }
  };

  for (let round = 0; round < WARMUP_ROUNDS + rounds; round++) {
    for (let k = 0; k < STEPS.length; k++) {
      const step = STEPS[(round + k) % STEPS.length]!;
      const ns = await run(step);
      if (round >= WARMUP_ROUNDS) samples[step].push(ns);
    }
  }
  const ns = Object.fromEntries(STEPS.map((step) => [step, summarize(samples[step])])) as Record<Step, Summary>;
  return { program: PROGRAM, interface: INTERFACE, rounds, ns, ratio: ns.attachedInline.median / ns.progLoadLinkCreate.median };
}

export function attachTable(result: AttachResult): string {
  const { ns } = result;
  const row = (what: string, summary: Summary, against: Summary) => [what, micros(summary.median), times(summary.median / against.median), micros(summary.median - against.median)];
  return formatTable(
    ['step', 'median', 'ratio', 'bpfgen adds'],
    [
      row('bpfgen: options → loaded (build + load)', ns.loaded, ns.progLoad),
      ['bare PROG_LOAD of the same bytes', micros(ns.progLoad.median), '1.00×', ''],
      row(`bpfgen: options → attached to ${result.interface} (attachDnsForward, inline)`, ns.attachedInline, ns.progLoadLinkCreate),
      row(`bpfgen: options → attached to ${result.interface} (attachDnsForward, map)`, ns.attachedMap, ns.progLoadLinkCreate),
      ['bare PROG_LOAD + LINK_CREATE (XDP link)', micros(ns.progLoadLinkCreate.median), '1.00×', ''],
    ],
  );
}
