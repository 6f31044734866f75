/**
 * The test packet builder against oracles outside bpfgen: the worked
 * examples of RFC 1071 and of the common IPv4 header illustration, and the
 * Linux network stack, which drops frames whose IPv4 or UDP checksum is
 * wrong and reassembles fragments before checking the UDP checksum.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithBpf } from '../loader/support.js';
import {
  internetChecksum,
  ipv4Packet,
  ipv4UdpFragments,
  ipv4UdpFrame,
  onesComplementSum,
  parseFrame,
  udpChecksum,
  udpDatagram,
} from './packets.js';

describe('checksums by full summation', () => {
  it('gives the RFC 1071 section 3 example: sum ddf2, checksum 220d', () => {
    const words = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
    expect(onesComplementSum(words)).toBe(0xddf2);
    expect(internetChecksum(words)).toBe(0x220d);
  });

  it('pads an odd last byte with zero (RFC 1071 section 4.1)', () => {
    expect(onesComplementSum(Uint8Array.of(0x12, 0x34, 0x56))).toBe(0x1234 + 0x5600);
  });

  it('lays out and checksums the well-known IPv4 header 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7', () => {
    const packet = ipv4Packet({ src: '192.168.0.1', dst: '192.168.0.199', id: 0, dontFragment: true, ttl: 64, totalLength: 0x73 }, new Uint8Array(0));
    expect(Buffer.from(packet).toString('hex')).toBe('4500007300004000' + '4011b861' + 'c0a80001' + 'c0a800c7');
  });

  it('sends a computed UDP checksum of 0 as 0xffff (RFC 768)', () => {
    // Choose the payload word that makes the ones'-complement sum 0xffff.
    const base = udpDatagram('ipv4', '192.0.2.1', '192.0.2.2', { srcPort: 1000, dstPort: 2000, payload: new Uint8Array(2), checksum: 'none' });
    const pseudoAndHeader = 0xffff - onesComplementSum(Uint8Array.of(192, 0, 2, 1, 192, 0, 2, 2, 0, 17, 0, 10), base);
    const payload = Uint8Array.of(pseudoAndHeader >> 8, pseudoAndHeader & 0xff);
    const datagram = udpDatagram('ipv4', '192.0.2.1', '192.0.2.2', { srcPort: 1000, dstPort: 2000, payload });
    expect(udpChecksum('ipv4', '192.0.2.1', '192.0.2.2', datagram)).toBe(0xffff);
    expect(datagram.subarray(6, 8)).toEqual(Uint8Array.of(0xff, 0xff));
  });

  it('parses back what it builds, and names the field a short frame lacks', () => {
    const frame = ipv4UdpFrame({ ip: { src: '192.0.2.2', dst: '192.0.2.1' }, udp: { srcPort: 4000, dstPort: 53, payload: Uint8Array.of(1, 2, 3) } });
    const parsed = parseFrame(frame);
    expect(parsed.ipv4).toMatchObject({ src: '192.0.2.2', dst: '192.0.2.1', headerBytes: 20, checksumValid: true });
    expect(parsed.udp).toMatchObject({ srcPort: 4000, dstPort: 53, length: 11, checksumValid: true });
    expect(() => parseFrame(frame.subarray(0, 40))).toThrow('UDP header: the frame has 40 bytes, the UDP header needs 42');
  });
});

const NETNS = `bpfgen-packets-${process.pid}`;
const RECEIVER_IP = '192.0.2.1';
const SENDER_IP = '192.0.2.2';
const RECEIVER_MAC = '02:00:00:00:00:01';
const PORT = 9999;

/**
 * Runs inside the namespace: binds a UDP socket on the receiver address,
 * writes each frame (hex arguments) raw onto veth `pkt-tx`, whose peer `pkt-rx`
 * owns the address, and prints every datagram the stack delivers within
 * two seconds, one hex line each.
 */
const RECEIVER_SCRIPT = `
import select, socket, sys, time
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind((sys.argv[1], int(sys.argv[2])))
tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
tx.bind(('pkt-tx', 0))
for frame in sys.argv[3:]:
    tx.send(bytes.fromhex(frame))
deadline = time.monotonic() + 2
while time.monotonic() < deadline:
    ready, _, _ = select.select([rx], [], [], 0.1)
    if ready:
        print(rx.recv(65535).hex(), flush=True)
`;

function run(command: string, ...args: string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', timeout: 20_000 });
}

/** Deliver frames to the namespace's stack; returns the payloads its UDP socket received. */
function delivered(frames: readonly Uint8Array[]): Set<string> {
  const hex = frames.map((f) => Buffer.from(f).toString('hex'));
  const output = run('ip', 'netns', 'exec', NETNS, 'python3', '-c', RECEIVER_SCRIPT, RECEIVER_IP, String(PORT), ...hex);
  return new Set(output.split('\n').filter((line) => line.length > 0));
}

describeWithBpf('frames built here, judged by the Linux network stack', () => {
  beforeAll(() => {
    run('ip', 'netns', 'add', NETNS);
    run('ip', '-n', NETNS, 'link', 'add', 'name', 'pkt-tx', 'type', 'veth', 'peer', 'name', 'pkt-rx');
    run('ip', '-n', NETNS, 'link', 'set', 'pkt-rx', 'address', RECEIVER_MAC);
    run('ip', '-n', NETNS, 'address', 'add', `${RECEIVER_IP}/24`, 'dev', 'pkt-rx');
    run('ip', '-n', NETNS, 'link', 'set', 'pkt-tx', 'up');
    run('ip', '-n', NETNS, 'link', 'set', 'pkt-rx', 'up');
  });
  afterAll(() => {
    run('ip', 'netns', 'delete', NETNS);
  });

  it('accepts correct checksums (with options, padding, zero UDP checksum, fragments) and drops corrupted ones', () => {
    const ip = { src: SENDER_IP, dst: RECEIVER_IP };
    const tagged = (tag: string, extra = 0): Uint8Array => new Uint8Array([...Buffer.from(tag), ...randomBytes(extra)]);
    const good = {
      plain: tagged('plain', 37),
      odd: tagged('odd-length', 3),
      options: tagged('options', 10),
      padded: tagged('padded'),
      noChecksum: tagged('no-checksum', 5),
      fragmented: tagged('fragmented', 100),
    };
    const bad = { udp: tagged('bad-udp', 8), ip: tagged('bad-ip', 8) };
    const badUdp = ipv4UdpFrame({ ip, udp: { srcPort: 1234, dstPort: PORT, payload: bad.udp } });
    badUdp[14 + 20 + 6]! ^= 0x01;
    const frames = [
      ipv4UdpFrame({ ip, udp: { srcPort: 1234, dstPort: PORT, payload: good.plain } }),
      ipv4UdpFrame({ ip, udp: { srcPort: 1, dstPort: PORT, payload: good.odd } }),
      ipv4UdpFrame({ ip: { ...ip, options: Uint8Array.of(1, 1, 1, 0, 1, 1, 1, 0) }, udp: { srcPort: 65535, dstPort: PORT, payload: good.options } }),
      ipv4UdpFrame({ ip, udp: { srcPort: 53, dstPort: PORT, payload: good.padded }, trailer: 12 }),
      ipv4UdpFrame({ ip, udp: { srcPort: 1234, dstPort: PORT, payload: good.noChecksum, checksum: 'none' } }),
      ...ipv4UdpFragments({ ip: { ...ip, id: 0x4321 }, udp: { srcPort: 1234, dstPort: PORT, payload: good.fragmented } }, 48),
      badUdp,
      ipv4UdpFrame({ ip: { ...ip, checksum: 0x1234 }, udp: { srcPort: 1234, dstPort: PORT, payload: bad.ip } }),
    ];
    const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
    const received = delivered(frames);
    expect([...received].sort()).toEqual(Object.values(good).map(hex).sort());
    for (const payload of Object.values(bad)) expect(received.has(hex(payload))).toBe(false);
  });
});
