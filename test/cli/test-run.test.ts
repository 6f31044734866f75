/**
 * `bpfgen test-run`, run as a child process against the kernel: the return
 * code by name, the packet diff, and checksums judged against RFC 1071 sums
 * computed here; packets from hex and from pcap files written here; input
 * errors as one line with exit code 2; missing privileges and a missing shim
 * as one line.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verdictOf } from '../../src/cli/packet/verdict.js';
import { bpftool, describeWithBpf } from '../loader/support.js';
import { compiledCli, type CompiledCli } from './compiled-cli.js';

// ---- Frames built here, independently of src/cli/packet ----

/** RFC 1071 over 16-bit big-endian words, as the receiving stack checks it. */
function onesSum(bytes: Uint8Array, start = 0): number {
  let sum = start;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) + (bytes[i + 1] ?? 0);
  while (sum >>> 16) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

function pseudoHeader(frame: Uint8Array, udpLength: number): number {
  return onesSum(frame.subarray(26, 34)) + 17 + udpLength;
}

const udpChecksumOk = (frame: Uint8Array): boolean => {
  const length = (frame[38]! << 8) | frame[39]!;
  return onesSum(frame.subarray(34, 34 + length), pseudoHeader(frame, length)) === 0xffff;
};
const ipChecksumOk = (frame: Uint8Array): boolean => onesSum(frame.subarray(14, 34)) === 0xffff;

/** Recompute both checksums of an Ethernet/IPv4/UDP frame in place. */
function fillChecksums(frame: Uint8Array): Uint8Array {
  const view = new DataView(frame.buffer, frame.byteOffset);
  view.setUint16(24, 0);
  view.setUint16(24, ~onesSum(frame.subarray(14, 34)) & 0xffff);
  const length = view.getUint16(38);
  view.setUint16(40, 0);
  view.setUint16(40, ~onesSum(frame.subarray(34, 34 + length), pseudoHeader(frame, length)) & 0xffff || 0xffff);
  return frame;
}

function udpFrame(src: string, sport: number, dst: string, dport: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(42 + payload.length);
  const view = new DataView(frame.buffer);
  frame.set([0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa, 0x08, 0x00]);
  frame.set([0x45, 0, 0, 0, 0xbe, 0xef, 0x40, 0, 64, 17], 14);
  view.setUint16(16, 20 + 8 + payload.length);
  frame.set(src.split('.').map(Number), 26);
  frame.set(dst.split('.').map(Number), 30);
  view.setUint16(34, sport);
  view.setUint16(36, dport);
  view.setUint16(38, 8 + payload.length);
  frame.set(payload, 42);
  return fillChecksums(frame);
}

const RESOLVER = '100.127.136.241';
const dnsQuery = (): Uint8Array =>
  new Uint8Array(dnsPacket.encode({ type: 'query', id: 0x4242, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'example.com' }] }));
const queryFrame = (): Uint8Array => udpFrame('100.64.0.7', 41000, RESOLVER, 53, dnsQuery());

/** What xdp-dns-forward should make of a query: port 5053 and checksums that verify. */
function forwardedQuery(frame: Uint8Array): Uint8Array {
  const out = frame.slice();
  new DataView(out.buffer).setUint16(36, 5053);
  return fillChecksums(out);
}

const arpRequest = (): Uint8Array =>
  new Uint8Array([
    ...[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0xaa, 0x08, 0x06],
    ...[0, 1, 0x08, 0, 6, 4, 0, 1],
    ...[0x02, 0, 0, 0, 0, 0xaa, 192, 0, 2, 1],
    ...[0, 0, 0, 0, 0, 0, 192, 0, 2, 2],
    ...new Array(18).fill(0),
  ]);

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const hex16 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;
const word = (bytes: Uint8Array, at: number): number => (bytes[at]! << 8) | bytes[at + 1]!;

/** A classic pcap file: magic by resolution, fields in the chosen byte order. */
function pcapFile(frames: Uint8Array[], options: { littleEndian: boolean; nanoseconds: boolean; linkType?: number }): Uint8Array {
  const le = options.littleEndian;
  const header = new DataView(new ArrayBuffer(24));
  header.setUint32(0, options.nanoseconds ? 0xa1b23c4d : 0xa1b2c3d4, le);
  header.setUint16(4, 2, le);
  header.setUint16(6, 4, le);
  header.setUint32(16, 65535, le);
  header.setUint32(20, options.linkType ?? 1, le);
  const parts: Uint8Array[] = [new Uint8Array(header.buffer)];
  frames.forEach((frame, i) => {
    const record = new DataView(new ArrayBuffer(16));
    record.setUint32(0, 1_700_000_000 + i, le);
    record.setUint32(4, options.nanoseconds ? 999_999_999 : 999_999, le);
    record.setUint32(8, frame.length, le);
    record.setUint32(12, frame.length, le);
    parts.push(new Uint8Array(record.buffer), frame);
  });
  return Buffer.concat(parts);
}

/** The UAPI's names and values: `#define TC_ACT_OK 0` and `XDP_ABORTED = 0,` followed by implicit members. */
function uapiNames(): { tc: Map<number, string>; xdp: Map<number, string> } {
  const tc = new Map<number, string>();
  for (const m of readFileSync('/usr/include/linux/pkt_cls.h', 'utf8').matchAll(/^#define (TC_ACT_[A-Z]+)\s+\(?(-?\d+)\)?/gm)) tc.set(Number(m[2]), m[1]!);
  const body = /enum xdp_action \{([^}]*)\}/.exec(readFileSync('/usr/include/linux/bpf.h', 'utf8'))![1]!;
  const xdp = new Map(body.split(',').map((s) => s.trim().replace(/\s*=.*$/, '')).filter(Boolean).map((name, i) => [i, name] as const));
  return { tc, xdp };
}

describe('return codes by program type', () => {
  it('are named as in linux/bpf.h (enum xdp_action) and linux/pkt_cls.h (TC_ACT_*)', () => {
    const { tc, xdp } = uapiNames();
    expect(xdp.size).toBe(5);
    for (const [value, name] of xdp) expect(verdictOf('xdp', value, 60).name).toBe(name);
    expect(tc.size).toBeGreaterThanOrEqual(10);
    for (const [value, name] of tc) expect(verdictOf('sched_cls', value >>> 0, 60).name).toBe(name);
  });
});

describeWithBpf('bpfgen test-run', () => {
  let cli: CompiledCli;
  beforeAll(() => {
    cli = compiledCli();
  }, 180_000);
  afterAll(() => cli?.dispose());

  const pcapPath = (name: string): string => join(cli.dir, name);

  it('runs xdp-dns-forward on a DNS query: XDP_PASS, port 53 → 5053, checksums valid before and after', () => {
    const frame = queryFrame();
    expect(ipChecksumOk(frame) && udpChecksumOk(frame)).toBe(true);
    const expected = forwardedQuery(frame);
    const { status, stdout, stderr } = cli.run(['test-run', 'xdp-dns-forward', '--packet', hex(frame)]);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(stdout).toMatch(/^result +XDP_PASS \(2\)$/m);
    expect(stdout).toMatch(/^duration +\d+ ns per run/m);
    expect(stdout).toMatch(/^ +destination port +53 → 5053$/m);
    expect(stdout).toMatch(/^ +source port +41000$/m);
    expect(stdout).toContain(`checksum          ${hex16(word(frame, 40))} (valid) → ${hex16(word(expected, 40))} (valid)`);
    expect(stdout).toMatch(new RegExp(`^ +header checksum +${hex16(word(frame, 24))} \\(valid in, valid out\\)$`, 'm'));
    expect(stdout).toMatch(/^ +destination +100\.127\.136\.241$/m);
    expect(stdout).toMatch(/^output +\d+ bytes, 4 bytes changed$/m);
  });

  it('--json reports the kernel output packet, which matches the forwarded query computed here, and unloads the program', () => {
    const frame = queryFrame();
    const { status, stdout } = cli.run(['test-run', 'xdp-dns-forward', '--packet', hex(frame), '--json', '--repeat', '100']);
    expect(status).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.result).toEqual({ retval: 2, value: 2, name: 'XDP_PASS' });
    expect(report.repeat).toBe(100);
    expect(Number.isInteger(report.durationNs)).toBe(true);
    expect(report.output.hex).toBe(hex(forwardedQuery(frame)));
    const udp = report.diff.layers.find((l: { name: string }) => l.name === 'UDP');
    const dport = udp.fields.find((f: { name: string }) => f.name === 'destination port');
    expect(dport).toMatchObject({ changed: true, before: { value: '53' }, after: { value: '5053' } });
    // The CLI closed its descriptors on exit, so the kernel has freed the program.
    expect(() => bpftool('prog', 'show', 'id', String(report.loaded.id))).toThrow();
  });

  it('leaves a reply on another port alone and says so', () => {
    const other = udpFrame('100.64.0.7', 41000, RESOLVER, 853, dnsQuery());
    const { status, stdout } = cli.run(['test-run', 'xdp-dns-forward', '--packet', hex(other)]);
    expect(status).toBe(0);
    expect(stdout).toMatch(/^output +\d+ bytes, 0 bytes changed$/m);
    expect(stdout).not.toContain('→');
    expect(stdout).toMatch(/^ +checksum +0x[0-9a-f]{4} \(valid in, valid out\)$/m);
  });

  it('shows a checksum that the program left stale as invalid', () => {
    // The program adjusts the UDP checksum it finds; a wrong one stays wrong.
    const frame = queryFrame();
    frame[41]! ^= 0x01;
    const { stdout } = cli.run(['test-run', 'xdp-dns-forward', '--packet', hex(frame)]);
    expect(stdout).toMatch(/^ +checksum +0x[0-9a-f]{4} \(invalid\) → 0x[0-9a-f]{4} \(invalid\)$/m);
  });

  it('the dns-query preset is a frame whose checksums verify here', () => {
    const { stdout } = cli.run(['test-run', 'xdp-dns-forward', '--packet-preset', 'dns-query', '--json']);
    const input = Buffer.from(JSON.parse(stdout).input.hex, 'hex');
    expect(ipChecksumOk(input)).toBe(true);
    expect(udpChecksumOk(input)).toBe(true);
    expect(dnsPacket.decode(input.subarray(42)).questions).toEqual([{ name: 'example.com', type: 'A', class: 'IN' }]);
  });

  for (const format of [
    { littleEndian: true, nanoseconds: false },
    { littleEndian: false, nanoseconds: true },
  ]) {
    const label = `${format.littleEndian ? 'little' : 'big'}-endian, ${format.nanoseconds ? 'ns' : 'µs'}`;
    it(`reads packets from a pcap (${label}) by --index, counting from 1`, () => {
      const path = pcapPath(`three-${format.littleEndian}-${format.nanoseconds}.pcap`);
      writeFileSync(path, pcapFile([arpRequest(), udpFrame('100.64.0.7', 41000, RESOLVER, 123, new Uint8Array(48)), queryFrame()], format));
      try {
        const dns = cli.run(['test-run', 'xdp-dns-forward', '--pcap', path, '--index', '3']);
        expect(dns.status).toBe(0);
        expect(dns.stdout).toMatch(/^input +\S+three\S+ packet 3 of 3, \d+ bytes$/m);
        expect(dns.stdout).toMatch(/^ +destination port +53 → 5053$/m);

        const arp = cli.run(['test-run', 'xdp-dns-forward', '--pcap', path]);
        expect(arp.status).toBe(0);
        expect(arp.stdout).toMatch(/^ARP$/m);
        expect(arp.stdout).toMatch(/^ +type +0x0806 \(ARP\)$/m);
        expect(arp.stdout).toMatch(/^ +target ip +192\.0\.2\.2$/m);
        expect(arp.stdout).toMatch(/^output +60 bytes, 0 bytes changed$/m);
      } finally {
        rmSync(path, { force: true });
      }
    });
  }

  describe('input errors: one line naming the flag, exit code 2', () => {
    const cases: [string, () => string[], RegExp][] = [
      ['bad hex', () => ['--packet', '02zz'], /^bpfgen: --packet: 'z' at character 3 is not a hex digit$/],
      ['odd length', () => ['--packet', hex(queryFrame()).slice(1)], /^bpfgen: --packet: odd number of hex digits/],
      ['empty packet', () => ['--packet', ''], /^bpfgen: --packet: the packet is empty/],
      ['short packet', () => ['--packet', '0011223344'], /^bpfgen: --packet: .*5 bytes, shorter than the 14-byte Ethernet header/],
      ['missing pcap', () => ['--pcap', pcapPath('missing.pcap')], /^bpfgen: --pcap \S+missing\.pcap: no such file$/],
      ['bad --repeat', () => ['--packet', hex(queryFrame()), '--repeat', 'many'], /^bpfgen: --repeat: 'many' is not/],
      ['zero --repeat', () => ['--packet', hex(queryFrame()), '--repeat', '0'], /^bpfgen: --repeat: 0 is out of range/],
      ['two packet sources', () => ['--packet', '00', '--packet-preset', 'dns-query'], /^bpfgen: test-run: give only one of --packet, --packet-preset$/],
      ['no packet', () => [], /^bpfgen: test-run: give the packet with --packet/],
    ];
    for (const [name, args, message] of cases) {
      it(name, () => {
        const { status, stdout, stderr } = cli.run(['test-run', 'xdp-dns-forward', ...args()]);
        expect(status).toBe(2);
        expect(stdout).toBe('');
        expect(stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(stderr.trimEnd()).toMatch(message);
      });
    }

    const pcapCases: [string, () => Uint8Array, string[], RegExp][] = [
      ['not a pcap', () => new TextEncoder().encode('hello, world, this is text\n'), [], /^bpfgen: --pcap \S+: not a pcap file \(magic 0x6c6c6568 at byte 0/],
      ['pcapng', () => new Uint8Array([0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a]), [], /^bpfgen: --pcap \S+: this is a pcapng file; convert it/],
      ['truncated header', () => pcapFile([], { littleEndian: true, nanoseconds: false }).subarray(0, 20), [], /: the file header is cut short \(20 of 24 bytes\)$/],
      ['no packets', () => pcapFile([], { littleEndian: true, nanoseconds: false }), [], /: the capture holds no packets$/],
      [
        'truncated record',
        () => pcapFile([queryFrame()], { littleEndian: true, nanoseconds: false }).subarray(0, 24 + 16 + 30),
        [],
        /: the capture holds no packets \(packet 1 \(record at byte 24\): claims 71 bytes but only 30 remain/,
      ],
      [
        '--index beyond a damaged file',
        () => pcapFile([queryFrame(), queryFrame()], { littleEndian: false, nanoseconds: false }).subarray(0, 24 + 2 * 16 + 71 + 10),
        ['--index', '2'],
        /^bpfgen: --index 2: \S+ has no packet 2 \(only 1 packets are readable before packet 2 \(record at byte 111\): claims 71 bytes but only 10 remain/,
      ],
      ['--index 0', () => pcapFile([queryFrame()], { littleEndian: true, nanoseconds: true }), ['--index', '0'], /^bpfgen: --index: 0 is out of range/],
      ['not Ethernet', () => pcapFile([queryFrame().subarray(14)], { littleEndian: true, nanoseconds: false, linkType: 101 }), [], /: the capture's link type is raw IP, not Ethernet/],
    ];
    for (const [name, contents, extra, message] of pcapCases) {
      it(`pcap: ${name}`, () => {
        const path = pcapPath(`case-${name.replace(/\W+/g, '-')}.pcap`);
        writeFileSync(path, contents());
        try {
          const { status, stderr } = cli.run(['test-run', 'xdp-dns-forward', '--pcap', path, ...extra]);
          expect(status).toBe(2);
          expect(stderr.trimEnd().split('\n')).toHaveLength(1);
          expect(stderr.trimEnd()).toMatch(message);
        } finally {
          rmSync(path, { force: true });
        }
      });
    }
  });

  it('without privileges: one line saying so, exit code 1', () => {
    const nobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];
    const { status, stdout, stderr } = cli.run(['test-run', 'xdp-dns-forward', '--packet-preset', 'dns-query'], nobody);
    expect(status).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^bpfgen: test-run: cannot load xdp_dns_fwd: bpf\(BPF_PROG_LOAD\) was not permitted \(EPERM\): bpf\(\) needs root/);
  });

  it('without the native shim: one line saying so, exit code 1', () => {
    const { status, stderr } = cli.withoutShim().run(['test-run', 'xdp-dns-forward', '--packet-preset', 'dns-query']);
    expect(status).toBe(1);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/^bpfgen: test-run: cannot load xdp_dns_fwd: bpfgen cannot make system calls: the native shim is not built/);
  });

  it('--help shows a ready-made packet that runs as shown', () => {
    const help = cli.run(['test-run', '--help']);
    expect(help.status).toBe(0);
    const example = /bpfgen (test-run xdp-dns-forward --packet [0-9a-f]+)$/m.exec(help.stdout);
    expect(example).not.toBeNull();
    const packet = Buffer.from(example![1]!.split(' ').at(-1)!, 'hex');
    expect(ipChecksumOk(packet) && udpChecksumOk(packet)).toBe(true);
    const run = cli.run(example![1]!.split(' '));
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^ +destination port +53 → 5053$/m);
  });
});
