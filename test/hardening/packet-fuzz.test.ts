/**
 * Packet fuzzing against the kernel: every program, built for several
 * configurations (the defaults, the edges of every option's range, and a
 * seeded random one), runs seeded frames under BPF_PROG_TEST_RUN, and each
 * result is judged by an independent model (support/models.ts): a legal
 * verdict for the program type (from the UAPI headers), the model's verdict,
 * the model's output byte for byte (untouched frames identical, rewritten
 * ones changed in exactly the expected fields), and for rewritten frames
 * that were well-formed, checksums valid by full recomputation.
 *
 * Besides the random frames, each configuration's matching query and reply
 * is cut at every length from the Ethernet header on.
 *
 * 5,000 frames per program by default; 100,000 with BPFGEN_LONG=1.
 */
import { afterAll, expect, it } from 'vitest';
import { loadProgram, type Program } from '../../src/loader/index.js';
import { programNamed } from '../../src/programs/index.js';
import { describeWithBpf } from '../loader/support.js';
import { ipv4UdpFrame } from '../support/packets.js';
import { everyTruncation, fuzzFrames, type FuzzFrame } from './support/frames.js';
import { FuzzRun, type FuzzReport } from './support/fuzz.js';
import {
  socketDnsFilterModel,
  tcDnsRedirectEthModel,
  tcDnsRedirectLoModel,
  xdpDnsForwardModel,
  type ProgramModel,
  type TcDnsRedirectConfig,
  type XdpDnsForwardConfig,
} from './support/models.js';
import { Prng } from './support/prng.js';
import { scaled, scaledTimeout } from './support/scale.js';
import type { PacketProgramType } from './support/uapi-actions.js';

const FRAMES_PER_PROGRAM = scaled(5_000, 100_000);

/** A configuration, the model for it, and the frames (a query and a reply) it must act on, to be cut at every length. */
interface Configured {
  readonly options: Readonly<Record<string, string | number>>;
  readonly model: ProgramModel;
  readonly matching: readonly FuzzFrame[];
}

interface FuzzTarget {
  readonly program: string;
  readonly type: PacketProgramType;
  readonly seed: number;
  /** Whether the program rewrites frames (else it only judges them). */
  readonly rewrites: boolean;
  configurations(rng: Prng): Configured[];
}

function xdpConfigured(config: XdpDnsForwardConfig): Configured {
  const payload = new Uint8Array(24).fill(0x5a);
  return {
    options: { ...config },
    model: xdpDnsForwardModel(config),
    matching: [
      { kind: 'query', bytes: ipv4UdpFrame({ ip: { src: '100.64.0.2', dst: config.dnsIp }, udp: { srcPort: 40000, dstPort: config.dnsPort, payload } }) },
      { kind: 'reply', bytes: ipv4UdpFrame({ ip: { src: config.dnsIp, dst: '100.64.0.2' }, udp: { srcPort: config.listenPort, dstPort: 40000, payload } }) },
    ],
  };
}

function tcConfigured(half: 'lo' | 'eth', config: TcDnsRedirectConfig & Readonly<Record<string, string | number>>): Configured {
  const [resolverIp, resolverPort] = config.resolver.split(':');
  const [upstreamIp, upstreamPort] = config.upstream.split(':');
  const payload = new Uint8Array(24).fill(0xa5);
  const frame =
    half === 'lo'
      ? ipv4UdpFrame({ ip: { src: '127.0.0.1', dst: resolverIp! }, udp: { srcPort: 40000, dstPort: Number(resolverPort), payload } })
      : ipv4UdpFrame({ ip: { src: upstreamIp!, dst: config.containerIp }, udp: { srcPort: Number(upstreamPort), dstPort: 40000, payload } });
  return { options: config, model: half === 'lo' ? tcDnsRedirectLoModel(config) : tcDnsRedirectEthModel(config), matching: [{ kind: half === 'lo' ? 'query' : 'answer', bytes: frame }] };
}

function socketConfigured(port: number): Configured {
  const dns = new Uint8Array(20);
  dns[5] = 1; // QDCOUNT 1
  return {
    options: { port },
    model: socketDnsFilterModel({ port }),
    matching: [
      { kind: 'query', bytes: ipv4UdpFrame({ ip: { src: '192.0.2.1', dst: '192.0.2.53' }, udp: { srcPort: 40000, dstPort: port, payload: dns } }) },
      { kind: 'response', bytes: ipv4UdpFrame({ ip: { src: '192.0.2.53', dst: '192.0.2.1' }, udp: { srcPort: port, dstPort: 40000, payload: dns } }) },
    ],
  };
}

const port = (rng: Prng) => rng.int(1, 0xffff);
const endpoint = (rng: Prng) => `${rng.ipv4()}:${port(rng)}`;

/**
 * The tc configurations: the defaults, the edges, one whose address rewrite
 * leaves both checksums as they are (only the port changes them), one whose
 * rewrite changes no checksum at all (the addresses swap places, the port
 * stays), and a random one.
 */
function tcConfigurations(half: 'lo' | 'eth', rng: Prng): Configured[] {
  const ifindex = half === 'lo' ? 'ethIfindex' : 'loIfindex';
  return [
    { resolver: '127.0.0.11:53', upstream: '198.51.100.53:53', containerIp: '192.0.2.2', [ifindex]: 2 },
    { resolver: '127.0.0.11:65535', upstream: '0.0.0.0:1', containerIp: '255.255.255.255', [ifindex]: 0x7fffffff },
    { resolver: '127.0.0.1:1', upstream: '127.0.0.1:65535', containerIp: '127.0.0.1', [ifindex]: 1 },
    { resolver: '0.0.0.0:1', upstream: '127.0.0.1:1', containerIp: '0.0.0.0', [ifindex]: 1 },
    { resolver: endpoint(rng), upstream: endpoint(rng), containerIp: rng.ipv4(), [ifindex]: rng.int(1, 0x7fffffff) },
  ].map((config) => tcConfigured(half, config));
}

const TARGETS: readonly FuzzTarget[] = [
  {
    program: 'xdp-dns-forward',
    type: 'xdp',
    seed: 0x5eed_0001,
    rewrites: true,
    configurations: (rng) =>
      [
        { dnsIp: '100.127.136.241', listenPort: 5053, dnsPort: 53 },
        { dnsIp: '255.255.255.255', listenPort: 65535, dnsPort: 1 },
        { dnsIp: '0.0.0.0', listenPort: 53, dnsPort: 53 },
        { dnsIp: rng.ipv4(), listenPort: port(rng), dnsPort: port(rng) },
      ].map(xdpConfigured),
  },
  { program: 'tc-dns-redirect-lo', type: 'sched_cls', seed: 0x5eed_0002, rewrites: true, configurations: (rng) => tcConfigurations('lo', rng) },
  { program: 'tc-dns-redirect-eth', type: 'sched_cls', seed: 0x5eed_0003, rewrites: true, configurations: (rng) => tcConfigurations('eth', rng) },
  {
    program: 'socket-dns-filter',
    type: 'socket_filter',
    seed: 0x5eed_0004,
    rewrites: false,
    configurations: (rng) => [53, 1, 65535, port(rng)].map(socketConfigured),
  },
];

/** Frame counts by family and by trait or mutation, e.g. ipv4-udp 3100, +vlan 210, /truncated 150. */
function tally(kinds: ReadonlyMap<string, number>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [kind, n] of kinds) {
    for (const part of kind.match(/^[^+/]+|[+/][^+/]+/g) ?? []) counts.set(part, (counts.get(part) ?? 0) + n);
  }
  return counts;
}

function summary(program: string, report: FuzzReport, ms: number): string {
  const counts = [...tally(report.kinds).entries()].sort(([a], [b]) => a.localeCompare(b)).map(([part, n]) => `${part} ${n}`);
  const acted = program === 'socket-dns-filter' ? 'kept' : 'rewritten';
  return (
    `${program}: ${report.runs} frames in ${ms} ms, ${report.acted} ${acted} (${report.checksumsRecomputed} with checksums recomputed in full), ` +
    `${report.refused} refused by the test run; ${counts.join(', ')}`
  );
}

describeWithBpf('packet fuzzing under BPF_PROG_TEST_RUN, judged by independent models', () => {
  const loaded: Program[] = [];
  afterAll(() => {
    for (const program of loaded) program.close();
  });

  it.each(TARGETS)(
    `$program: ${FRAMES_PER_PROGRAM} seeded frames over its configurations, and the matching frames cut at every length`,
    (target) => {
      const entry = programNamed(target.program)!;
      const rng = new Prng(target.seed);
      const configurations = target.configurations(rng);
      const reports: FuzzReport[] = [];
      const started = performance.now();
      configurations.forEach((configured, i) => {
        const program = loadProgram(entry.build(configured.options));
        loaded.push(program);
        const run = new FuzzRun(program, target.type, configured.model, `${target.program} seed 0x${target.seed.toString(16)} configuration ${JSON.stringify(configured.options)}`);
        const count = Math.floor(FRAMES_PER_PROGRAM / configurations.length) + (i < FRAMES_PER_PROGRAM % configurations.length ? 1 : 0);
        run.run(fuzzFrames(rng, configured.model.vocabulary, count));
        for (const frame of configured.matching) run.run([frame, ...everyTruncation(frame.kind, frame.bytes)]);
        reports.push(run.report());
        program.close();
      });
      const ms = Math.round(performance.now() - started);

      const total = (key: 'runs' | 'acted' | 'refused' | 'checksumsRecomputed' | 'failureCount') => reports.reduce((n, r) => n + r[key], 0);
      const kinds = new Map<string, number>();
      for (const report of reports) for (const [kind, n] of report.kinds) kinds.set(kind, (kinds.get(kind) ?? 0) + n);
      const merged: FuzzReport = {
        runs: total('runs'),
        acted: total('acted'),
        refused: total('refused'),
        checksumsRecomputed: total('checksumsRecomputed'),
        failureCount: total('failureCount'),
        kinds,
        failures: reports.flatMap((r) => r.failures),
      };
      console.log(summary(target.program, merged, ms));

      expect(merged.failures.slice(0, 3).join('\n\n'), `${merged.failureCount} of ${merged.runs} frames differ from the model`).toBe('');
      expect(merged.runs).toBeGreaterThanOrEqual(FRAMES_PER_PROGRAM);
      // The generator must reach every family, trait and mutation of frames.
      const reached = tally(kinds);
      const expected = ['ipv4-udp', 'ipv4-tcp', 'ipv4-icmp', 'ipv4-other', 'arp', 'ipv6-udp', 'ipv6-fragment', 'ipv6-hop-by-hop', 'ipv6-tcp', 'random'];
      for (const part of [...expected, '+vlan', '+options', '+fragment', '/truncated', '/ihl', '/total-length', '/udp-length', '/bit-flip', '/ethertype', '/protocol', '/every-cut']) {
        expect(reached.get(part) ?? 0, part).toBeGreaterThan(0);
      }
      expect(merged.acted).toBeGreaterThan(FRAMES_PER_PROGRAM / 50);
      if (target.rewrites) expect(merged.checksumsRecomputed).toBeGreaterThan(FRAMES_PER_PROGRAM / 100);
    },
    scaledTimeout(90_000, 1_800_000),
  );
});
