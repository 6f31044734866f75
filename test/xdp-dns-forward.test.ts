import { describe, expect, it } from 'vitest';
import { classify } from '../src/asm/instruction.js';
import { udpChecksumAdjustment } from '../src/asm/packet.js';
import { slotOffsets } from '../src/asm/program.js';
import { OptionError, PROGRAMS } from '../src/programs/index.js';
import { buildXdpDnsForward, XDP_DNS_FORWARD_DEFAULTS } from '../src/programs/xdp-dns-forward.js';
import { udpChecksum, udpDatagram } from './support/packets.js';

/** Instructions clang -O2 emits for the same logic in C (NetBird's dns_fwd.c). */
const CLANG_O2_INSNS = 74;

/** The 4-byte imm field of every instruction slot, as raw bytes. */
function immediates(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let at = 0; at < bytes.length; at += 8) out.push(Buffer.from(bytes.subarray(at + 4, at + 8)).toString('hex'));
  return out;
}

/** The imm bytes of a constant written in network order, as it sits in the packet, zero-padded to 4 bytes. */
function packetOrder(...bytes: number[]): string {
  return Buffer.from([...bytes, 0, 0, 0, 0].slice(0, 4)).toString('hex');
}

describe('xdp-dns-forward', () => {
  it('assembles into clearly fewer instructions than clang -O2, each a valid encoding, ending in exit', () => {
    const program = buildXdpDnsForward();
    console.log(`xdp-dns-forward: ${program.insns.length} instructions (clang -O2: ${CLANG_O2_INSNS})`);
    expect(program.insns.length).toBeLessThan(CLANG_O2_INSNS * 0.6);
    const slots = slotOffsets(program.insns);
    program.insns.forEach((insn, i) => expect(() => classify(insn, slots[i])).not.toThrow());
    expect(classify(program.insns.at(-1)!)).toEqual({ kind: 'exit' });
    expect(program.type).toBe('xdp');
    expect(program.relocations).toEqual([]);
    expect(program.functions).toEqual([{ name: 'xdp_dns_fwd', insn: 0, length: program.insns.length, entry: true }]);
  });

  it('inlines its constants as immediates whose bytes are the packet bytes (network order)', () => {
    const defaults = immediates(buildXdpDnsForward().bytes);
    expect(defaults).toContain(packetOrder(100, 127, 136, 241)); // dnsIp
    expect(defaults).toContain(packetOrder(0, 53)); // dnsPort
    expect(defaults).toContain(packetOrder(0x13, 0xbd)); // listenPort 5053
    expect(defaults).toContain(packetOrder(0x08, 0x00)); // EtherType IPv4

    const custom = immediates(buildXdpDnsForward({ dnsIp: '192.0.2.10', listenPort: '8053', dnsPort: 5353 }).bytes);
    expect(custom).toContain(packetOrder(192, 0, 2, 10));
    expect(custom).toContain(packetOrder(0x1f, 0x75)); // 8053
    expect(custom).toContain(packetOrder(0x14, 0xe9)); // 5353
    expect(custom).not.toContain(packetOrder(100, 127, 136, 241));
  });

  it('records a source location for every instruction, by default only when asked for', () => {
    const eager = buildXdpDnsForward({}, { captureSites: true });
    for (const at of eager.sourceMap) expect(at?.file).toMatch(/src\/(programs\/xdp-dns-forward|asm\/packet)\.ts$/);
    expect(buildXdpDnsForward().sourceMap).toEqual(eager.sourceMap);
    expect(buildXdpDnsForward({}, { captureSites: false }).sourceMap.every((at) => at === undefined)).toBe(true);
  });

  it('builds well under a millisecond, and reports what call-site capture costs', () => {
    // The fastest of many runs: the build's own cost, not that of whatever else shares the CPU.
    const fastest = (settings: { captureSites?: boolean }): number => {
      for (let i = 0; i < 50; i++) buildXdpDnsForward({}, settings);
      let best = Infinity;
      for (let i = 0; i < 200; i++) {
        const start = performance.now();
        buildXdpDnsForward({}, settings);
        best = Math.min(best, performance.now() - start);
      }
      return best;
    };
    const byDefault = fastest({});
    const capturing = fastest({ captureSites: true });
    const without = fastest({ captureSites: false });
    const count = buildXdpDnsForward().insns.length;
    console.log(
      `xdp-dns-forward build: ${(byDefault * 1000).toFixed(0)} µs by default (source map on demand), ` +
        `${(capturing * 1000).toFixed(0)} µs capturing call sites, ${(without * 1000).toFixed(0)} µs without; ` +
        `capture ${(((capturing - without) * 1000) / count).toFixed(1)} µs per instruction once V8 has optimized the build`,
    );
    expect(byDefault).toBeLessThan(1);
    expect(capturing).toBeLessThan(1);
  });
});

describe('incremental UDP checksum arithmetic', () => {
  /** Little-endian 16-bit load of two network-order bytes, as the program reads fields. */
  const loaded = (networkValue: number): number => ((networkValue & 0xff) << 8) | (networkValue >> 8);

  /** What the emitted sequence computes: ((HC + adjustment) mod 0xffff) + 1, on loaded (byte-swapped) values. */
  const update = (loadedChecksum: number, adjustment: number): number => ((loadedChecksum + adjustment) % 0xffff) + 1;

  it('matches a full RFC 1071 recomputation after a port rewrite, for random datagrams and the edge values', () => {
    let seed = 0x1234567;
    const random = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed >>> 8;
    };
    const src = '100.64.0.7';
    const dst = '100.127.136.241';
    let checked = 0;
    for (let round = 0; round < 4000; round++) {
      const payload = Uint8Array.from({ length: (random() % 40) + 2 }, () => random() & 0xff);
      const oldPort = round % 7 === 0 ? 53 : (random() % 65535) + 1;
      const newPort = round % 11 === 0 ? oldPort : (random() % 65535) + 1;
      const before = udpDatagram('ipv4', src, dst, { srcPort: 40000, dstPort: oldPort, payload });
      const after = udpDatagram('ipv4', src, dst, { srcPort: 40000, dstPort: newPort, payload });
      const oldChecksum = (before[6]! << 8) | before[7]!;
      const adjustment = udpChecksumAdjustment(loaded(oldPort), loaded(newPort));
      expect(loaded(update(loaded(oldChecksum), adjustment)), `port ${oldPort} -> ${newPort}`).toBe(udpChecksum('ipv4', src, dst, after));
      checked++;
    }
    expect(checked).toBe(4000);
  });

  it('gives every old checksum 1..0xffff a result congruent to HC + m - m\' in 1..0xffff, so a computed zero is 0xffff', () => {
    const wrong: string[] = [];
    for (const [oldPort, newPort] of [
      [53, 5053],
      [5053, 53],
      [1, 65535],
      [54, 53],
      [53, 53],
    ] as const) {
      const [m, m2] = [loaded(oldPort), loaded(newPort)];
      const adjustment = udpChecksumAdjustment(m, m2);
      for (let checksum = 1; checksum <= 0xffff; checksum++) {
        const result = update(checksum, adjustment);
        const congruent = (((result - checksum - m + m2) % 0xffff) + 0xffff) % 0xffff === 0;
        if (result < 1 || result > 0xffff || !congruent) wrong.push(`${oldPort}->${newPort} HC ${checksum}: ${result}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('xdp-dns-forward options', () => {
  const entry = PROGRAMS['xdp-dns-forward']!;

  it('is registered with its CLI flags and defaults', () => {
    expect(entry.type).toBe('xdp');
    expect(entry.options.map((o) => [o.name, o.flag, o.kind, o.default])).toEqual([
      ['dnsIp', '--dns-ip', 'ipv4', '100.127.136.241'],
      ['listenPort', '--listen-port', 'port', 5053],
      ['dnsPort', '--dns-port', 'port', 53],
    ]);
    expect(XDP_DNS_FORWARD_DEFAULTS).toEqual({ dnsIp: '100.127.136.241', listenPort: 5053, dnsPort: 53 });
    expect(Buffer.from(entry.build({}).bytes)).toEqual(Buffer.from(buildXdpDnsForward().bytes));
    expect(Buffer.from(entry.build({ dnsPort: '53', listenPort: '5053' }).bytes)).toEqual(Buffer.from(buildXdpDnsForward().bytes));
  });

  const rejected: [string, Record<string, unknown>, string, RegExp][] = [
    ['three octets', { dnsIp: '1.2.3' }, '--dns-ip', /'1\.2\.3' is not an IPv4 address/],
    ['octet over 255', { dnsIp: '256.1.1.1' }, '--dns-ip', /'256\.1\.1\.1' is not an IPv4 address/],
    ['not an address', { dnsIp: 'abc' }, '--dns-ip', /'abc' is not an IPv4 address/],
    ['address as a number', { dnsIp: 0x647f88f1 }, '--dns-ip', /is not an IPv4 address/],
    ['port 0', { dnsPort: 0 }, '--dns-port', /0 is not a port number 1-65535/],
    ['port over 65535', { listenPort: '65536' }, '--listen-port', /'65536' is not a port number/],
    ['fractional port', { listenPort: 53.5 }, '--listen-port', /53\.5 is not a port number/],
    ['port text', { dnsPort: 'dns' }, '--dns-port', /'dns' is not a port number/],
    ['negative port', { dnsPort: '-53' }, '--dns-port', /'-53' is not a port number/],
    ['unknown option', { dnsIP: '1.2.3.4' }, 'dnsIP', /unknown option \(expected dnsIp \(--dns-ip\)/],
  ];
  it.each(rejected)('rejects %s naming the option', (_, options, option, detail) => {
    let caught: unknown;
    try {
      entry.build(options);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(OptionError);
    expect((caught as OptionError).option).toBe(option);
    expect((caught as OptionError).message).toMatch(detail);
  });
});
