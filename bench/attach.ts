/**
 * (2) From options to a program loaded and attached: xdp-dns-forward on
 * `lo` of the benchmark's own network namespace, against the bare
 * BPF_PROG_LOAD of the same bytes (the request bpfgen makes, captured and
 * replayed) and the bare PROG_LOAD + LINK_CREATE pair of syscalls. What
 * each round attaches is detached and closed outside the timed region; the
 * order of the three rotates, since the kernel frees programs asynchronously.
 */
import { attachXdp, interfaceIndex, loadProgram, native } from '../src/loader/index.js';
import { linkCreateAttr } from '../src/loader/attr.js';
import { BpfCommand } from '../src/loader/uapi.js';
import { PROGRAMS } from '../src/programs/index.js';
import { captureProgLoad, replayProgLoad } from './prog-load.js';
import { elapsedNs, interleave, summarize, type Summary } from './stats.js';
import { formatTable, micros, times } from './table.js';

const PROGRAM = 'xdp-dns-forward';
const INTERFACE = 'lo';
const LINK_CREATE = BpfCommand.LINK_CREATE.value;
const WARMUP_ROUNDS = 20;

export interface AttachResult {
  readonly program: string;
  readonly interface: string;
  readonly rounds: number;
  /** bpfgen: options → built → loaded → attached (an XDP link). */
  readonly optionsToAttachedNs: Summary;
  readonly progLoadNs: Summary;
  readonly progLoadLinkCreateNs: Summary;
  /** optionsToAttached over the bare PROG_LOAD. */
  readonly ratio: number;
}

export function measureAttach(options: Readonly<Record<string, unknown>>, rounds: number): AttachResult {
  const entry = PROGRAMS[PROGRAM]!;
  const ifindex = interfaceIndex(INTERFACE);
  const request = captureProgLoad(entry.build(options, { captureSites: false }));
  const shim = native();
  const samples = { attached: [] as number[], progLoad: [] as number[], linked: [] as number[] };
  let recording = false;
  const record = (into: number[], ns: number) => recording && into.push(ns);

  const steps = [
    () => {
      const start = process.hrtime.bigint();
      const program = loadProgram(entry.build(options));
      const link = attachXdp(program, INTERFACE);
      record(samples.attached, elapsedNs(start));
      link.close();
      program.close();
    },
    () => {
      const start = process.hrtime.bigint();
      const fd = replayProgLoad(request);
      record(samples.progLoad, elapsedNs(start));
      shim.close(fd);
    },
    () => {
      const start = process.hrtime.bigint();
      const fd = replayProgLoad(request);
      const link = shim.bpf(LINK_CREATE, linkCreateAttr({ progFd: fd, target: ifindex, attachType: 'xdp' }).attr.bytes, []);
      record(samples.linked, elapsedNs(start));
      shim.close(link);
      shim.close(fd);
    },
  ];
  interleave(WARMUP_ROUNDS, steps);
  recording = true;
  interleave(rounds, steps);

  const optionsToAttachedNs = summarize(samples.attached);
  const progLoadNs = summarize(samples.progLoad);
  return {
    program: PROGRAM,
    interface: INTERFACE,
    rounds,
    optionsToAttachedNs,
    progLoadNs,
    progLoadLinkCreateNs: summarize(samples.linked),
    ratio: optionsToAttachedNs.median / progLoadNs.median,
  };
}

export function attachTable(result: AttachResult): string {
  return formatTable(
    ['program', 'options → attached', 'bare PROG_LOAD', 'ratio', 'bare PROG_LOAD + LINK_CREATE', 'bpfgen overhead'],
    [
      [
        `${result.program} on ${result.interface}`,
        micros(result.optionsToAttachedNs.median),
        micros(result.progLoadNs.median),
        times(result.ratio),
        micros(result.progLoadLinkCreateNs.median),
        micros(result.optionsToAttachedNs.median - result.progLoadLinkCreateNs.median),
      ],
    ],
  );
}
