/**
 * Which packet access is cheapest for socket-dns-filter? Socket filters
 * cannot read packet memory; the legal ways are the legacy ld_abs/ld_ind
 * loads (the kernel turns each into a helper call) and helpers that copy
 * bytes to the stack. Both variants read relative to the network header,
 * so that they work on packet sockets and under test runs alike:
 *
 * - copy: src/programs/socket-dns-filter.ts, one skb_load_bytes_relative
 *   of the IP, UDP and DNS headers (a second only after IPv4 options or an
 *   IPv6 Fragment header);
 * - ld_abs/ld_ind: the same decisions with one legacy load per field group
 *   (offsets SKF_NET_OFF + n), built below. A load past the end ends the
 *   program with 0, which is the filter's "drop".
 *
 * Both are first checked to give the same verdict on every packet of a
 * set including truncations, then timed with BPF_PROG_TEST_RUN (the kernel's
 * mean ns per run over REPEAT runs), interleaved over ROUNDS rounds, minus
 * an empty socket filter (return skb->len) timed the same way.
 *
 * Run: npx tsc -p bench/tsconfig.json && ln -sfn ../../build bench/.work/build && node bench/.work/bench/socket-filter-access.js
 * (root); results go to bench/results-socket-filter-access.json.
 */
import { writeFileSync } from 'node:fs';
import { be16 } from '../src/asm/byteorder.js';
import { ProgramBuilder, r0, r1, r6, r7, type AssembledProgram } from '../src/asm/index.js';
import { SkBuff } from '../src/asm/socket-filter.js';
import { loadProgram, type Program } from '../src/loader/index.js';
import { buildSocketDnsFilter } from '../src/programs/socket-dns-filter.js';
import {
  ETHERTYPE_IPV6,
  ethernetFrame,
  IPPROTO_UDP,
  ipv4TcpFrame,
  ipv4UdpFragments,
  ipv4UdpFrame,
  ipv6Packet,
  ipv6UdpFrame,
  udpDatagram,
} from '../test/support/packets.js';
import { machine } from './machine.js';
import { interleave, summarize, type Summary } from './stats.js';

const REPEAT = 200_000;
const ROUNDS = 31;
const PORT = 53;
/** ld_abs/ld_ind offsets at or above SKF_NET_OFF count from the network header (linux/filter.h). */
const SKF_NET_OFF = -0x100000;
// Compiled to bench/.work/bench/; the results live beside this source.
const RESULTS = new URL('../../results-socket-filter-access.json', import.meta.url);

/** The filter with legacy loads: each ld_abs/ld_ind is a helper call that also checks bounds. Clobbers r1-r5 per load. */
function buildLegacyLoads(): AssembledProgram {
  const b = new ProgramBuilder({ name: 'dns_filt_ldabs', type: 'socket_filter', license: 'GPL' });
  const ctx = r6;
  const udp = r7;
  b.mov(ctx, r1);
  b.ldx('u32', r0, ctx, SkBuff.protocol);
  b.jeq(r0, be16(0x0800), 'ipv4');
  b.jne(r0, be16(0x86dd), 'drop');

  b.ldAbs('u8', SKF_NET_OFF + 6);
  b.mov(udp, 40);
  b.jeq(r0, IPPROTO_UDP, 'udp');
  b.jne(r0, 44, 'drop');
  // Fragment header: next header, reserved, then offset/flags; offset must be 0.
  b.ldAbs('u32', SKF_NET_OFF + 40);
  b.jset(r0, 0xfff8, 'drop');
  b.rsh(r0, 24);
  b.jne(r0, IPPROTO_UDP, 'drop');
  b.mov(udp, 48);
  b.ja('udp');

  // IPv4: fragment offset, TTL and protocol in one load (host order after the load).
  b.label('ipv4');
  b.ldAbs('u32', SKF_NET_OFF + 6);
  b.jset(r0, 0x1fff0000, 'drop');
  b.and(r0, 0xff);
  b.jne(r0, IPPROTO_UDP, 'drop');
  b.ldAbs('u8', SKF_NET_OFF + 0);
  b.mov(udp, r0);
  b.rsh(udp, 4);
  b.jne(udp, 4, 'drop');
  b.mov(udp, r0);
  b.and(udp, 0x0f);
  b.jlt(udp, 5, 'drop');
  b.lsh(udp, 2);

  b.label('udp');
  // The last 4 bytes of the DNS header: this load fails (drops) unless the whole header is there.
  b.ldInd('u32', udp, SKF_NET_OFF + 8 + 8);
  b.ldInd('u32', udp, SKF_NET_OFF + 0);
  b.mov(r1, r0);
  b.rsh(r1, 16);
  b.jeq(r1, PORT, 'dns');
  b.and(r0, 0xffff);
  b.jne(r0, PORT, 'drop');
  b.label('dns');
  b.ldInd('u16', udp, SKF_NET_OFF + 8 + 4);
  b.jne(r0, 1, 'drop');
  b.ldx('u32', r0, ctx, SkBuff.len);
  b.exit();
  b.label('drop');
  b.ret(0);
  return b.assemble();
}

function buildEmpty(): AssembledProgram {
  const b = new ProgramBuilder({ name: 'empty_filter', type: 'socket_filter', license: 'GPL' });
  b.ldx('u32', r0, r1, SkBuff.len);
  b.exit();
  return b.assemble();
}

const dnsHeader = (qdcount: number) => Uint8Array.of(0x12, 0x34, 0x01, 0x00, 0, qdcount, 0, 0, 0, 0, 0, 0, 3, 0x61, 0x62, 0x63, 0, 0, 1, 0, 1);
const client = { src: '192.0.2.7', dst: '198.51.100.53' };
const client6 = { src: '2001:db8::7', dst: '2001:db8::53' };

/** The packets timed. */
const TIMED: readonly { name: string; packet: Uint8Array }[] = [
  { name: 'IPv4 DNS query', packet: ipv4UdpFrame({ ip: client, udp: { srcPort: 40000, dstPort: PORT, payload: dnsHeader(1) } }) },
  { name: 'IPv6 DNS query', packet: ipv6UdpFrame({ ip: client6, udp: { srcPort: 40000, dstPort: PORT, payload: dnsHeader(1) } }) },
  { name: 'IPv4 DNS, IP options', packet: ipv4UdpFrame({ ip: { ...client, options: Uint8Array.of(1, 1, 1, 0) }, udp: { srcPort: 40000, dstPort: PORT, payload: dnsHeader(1) } }) },
  { name: 'IPv4 UDP, other port', packet: ipv4UdpFrame({ ip: client, udp: { srcPort: 40000, dstPort: 123, payload: dnsHeader(1) } }) },
  { name: 'IPv4 TCP', packet: ipv4TcpFrame({ ip: client, tcp: { srcPort: 40000, dstPort: 443 } }) },
];

/** The timed packets, every truncation a test run accepts, and the cases around them. */
function equivalenceSet(): Uint8Array[] {
  const udp6 = udpDatagram('ipv6', client6.src, client6.dst, { srcPort: 40000, dstPort: PORT, payload: dnsHeader(1) });
  const fragment6 = (offsetUnits: number) =>
    ethernetFrame(ETHERTYPE_IPV6, ipv6Packet({ ...client6, nextHeader: 44 }, Uint8Array.of(IPPROTO_UDP, 0, (offsetUnits >> 5) & 0xff, (offsetUnits << 3) & 0xf8, 0, 0, 0, 1, ...udp6)));
  const whole = [
    ...TIMED.map((t) => t.packet),
    ipv4UdpFrame({ ip: client, udp: { srcPort: PORT, dstPort: 40000, payload: dnsHeader(2) } }),
    ipv4UdpFrame({ ip: { ...client, options: new Uint8Array(40).fill(1) }, udp: { srcPort: PORT, dstPort: 40000, payload: dnsHeader(1) } }),
    ipv4UdpFrame({ ip: { ...client, versionIhl: 0x44 }, udp: { srcPort: 40000, dstPort: PORT, payload: dnsHeader(1) } }),
    ...ipv4UdpFragments({ ip: client, udp: { srcPort: 40000, dstPort: PORT, payload: dnsHeader(1) } }, 16),
    fragment6(0),
    fragment6(2),
  ];
  const shortest = (packet: Uint8Array) => (packet[12] === 0x86 ? 54 : 34);
  return whole.flatMap((packet) => Array.from({ length: packet.byteLength - shortest(packet) + 1 }, (_, i) => packet.slice(0, shortest(packet) + i)));
}

interface Row {
  readonly packet: string;
  readonly verdict: 'keep' | 'drop';
  readonly emptyNs: Summary;
  readonly copyNs: Summary;
  readonly legacyNs: Summary;
}

function main(): void {
  const copy = loadProgram(buildSocketDnsFilter({}, { captureSites: false }));
  const legacy = loadProgram(buildLegacyLoads());
  const empty = loadProgram(buildEmpty());
  const programs: Program[] = [copy, legacy, empty];
  try {
    const set = equivalenceSet();
    for (const packet of set) {
      const [a, b] = [copy.testRun(packet).retval, legacy.testRun(packet).retval];
      if (a !== b) throw new Error(`the variants disagree (${a} vs ${b}) on ${Buffer.from(packet).toString('hex')}`);
    }
    console.log(`both variants give the same verdict on ${set.length} packets`);

    const samples = TIMED.map(() => ({ empty: [] as number[], copy: [] as number[], legacy: [] as number[] }));
    const steps = TIMED.flatMap(({ packet }, i) =>
      (['empty', 'copy', 'legacy'] as const).map((variant) => () => {
        const program = variant === 'empty' ? empty : variant === 'copy' ? copy : legacy;
        samples[i]![variant].push(program.testRun(packet, { repeat: REPEAT }).duration);
      }),
    );
    interleave(ROUNDS, steps);

    const rows: Row[] = TIMED.map(({ name, packet }, i) => ({
      packet: name,
      verdict: copy.testRun(packet).retval === 0 ? 'drop' : 'keep',
      emptyNs: summarize(samples[i]!.empty),
      copyNs: summarize(samples[i]!.copy),
      legacyNs: summarize(samples[i]!.legacy),
    }));
    console.log(`ns per run (median of ${ROUNDS} rounds of ${REPEAT} runs), and net of the empty filter:`);
    console.log(`${'packet'.padEnd(22)} verdict  empty  copy (net)   ld_abs (net)`);
    for (const row of rows) {
      const net = (s: Summary) => `${String(s.median).padStart(4)} (${String(s.median - row.emptyNs.median).padStart(3)})`;
      console.log(`${row.packet.padEnd(22)} ${row.verdict.padEnd(7)}  ${String(row.emptyNs.median).padStart(5)}  ${net(row.copyNs)}   ${net(row.legacyNs)}`);
    }
    writeFileSync(RESULTS, `${JSON.stringify({ date: new Date().toISOString(), machine: machine(), repeat: REPEAT, rounds: ROUNDS, rows }, null, 2)}\n`);
  } finally {
    for (const program of programs) program.close();
  }
}

main();
