/**
 * xdp-dns-forward as the kernel runs it (BPF_PROG_TEST_RUN), judged by an
 * independent statement of what its source documents:
 *
 * - an Ethernet/IPv4 (IHL 5, not a non-first fragment) UDP query to
 *   dnsIp:dnsPort gets destination port listenPort;
 * - otherwise such a datagram from dnsIp:listenPort gets source port dnsPort;
 * - a rewritten datagram's UDP checksum is what a full RFC 1071 recomputation
 *   gives (0xffff for a computed 0), and a zero checksum ("none") stays zero;
 * - everything else passes byte for byte, and the verdict is always XDP_PASS.
 *
 * Expected checksums come from test/support/packets.ts, which sums every
 * word of the datagram; the program updates its checksum incrementally.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { BpfError, loadProgram, type Program } from '../../src/loader/index.js';
import { PROGRAMS } from '../../src/programs/index.js';
import { describeWithBpf } from '../loader/support.js';
import { emulationScaled } from '../support/emulation.js';
import {
  arpRequestFrame,
  ETHERTYPE_IPV4,
  ethernetFrame,
  hexDump,
  internetChecksum,
  IPPROTO_UDP,
  ipv4Packet,
  ipv4TcpFrame,
  ipv4UdpFragments,
  ipv4UdpFrame,
  ipv6UdpFrame,
  onesComplementSum,
  parseFrame,
  udpChecksum,
  udpDatagram,
  type Ipv4UdpFrameSpec,
} from '../support/packets.js';

const XDP_PASS = 2;
/** The payload-word sweep takes every word on the host, every 61st (a prime, so all low bits vary) under emulation. */
const SWEEP_STRIDE = emulationScaled(1, 61);
const RANDOM_PACKETS = emulationScaled(3000, 300);

/** Where the fields the program reads sit in an Ethernet/IPv4 (IHL 5)/UDP frame. */
const AT = { etherType: 12, versionIhl: 14, fragment: 20, protocol: 23, saddr: 26, daddr: 30, sport: 34, dport: 36, udpLength: 38, checksum: 40, payload: 42 } as const;

interface Config {
  readonly dnsIp: string;
  readonly dnsPort: number;
  readonly listenPort: number;
}

/** The defaults the program documents (src/programs/xdp-dns-forward.ts), restated here. */
const DEFAULTS: Config = { dnsIp: '100.127.136.241', dnsPort: 53, listenPort: 5053 };

/**
 * Configurations chosen for their encodings: the default address has the
 * top bit of a little-endian load set, 192.0.2.53 has it clear; ports 1 and
 * 65535 are the extremes of a 16-bit immediate; listenPort equal to dnsPort
 * makes the checksum adjustment "no change".
 */
const CONFIGS: readonly (Config & { readonly name: string })[] = [
  { name: 'defaults', ...DEFAULTS },
  { name: 'dnsIp 192.0.2.53', ...DEFAULTS, dnsIp: '192.0.2.53' },
  { name: 'listenPort 1', ...DEFAULTS, listenPort: 1 },
  { name: 'listenPort 65535', ...DEFAULTS, listenPort: 65535 },
  { name: 'listenPort = dnsPort = 53', ...DEFAULTS, listenPort: 53 },
  { name: 'dnsIp 203.0.113.255, dnsPort 65535, listenPort 1', dnsIp: '203.0.113.255', dnsPort: 65535, listenPort: 1 },
];

const CLIENT_IP = '100.64.0.7';
const CLIENT_PORT = 40000;

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

function readU16(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 8) | bytes[at + 1]!;
}

function writeU16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >> 8;
  bytes[at + 1] = value & 0xff;
}

function addressAt(bytes: Uint8Array, at: number): string {
  return Array.from(bytes.subarray(at, at + 4)).join('.');
}

/** Offsets at which two equally long byte arrays differ. */
function differingOffsets(a: Uint8Array, b: Uint8Array): number[] {
  expect(a.byteLength).toBe(b.byteLength);
  return Array.from(a.keys()).filter((i) => a[i] !== b[i]);
}

/**
 * `frame` with one port replaced and the UDP checksum recomputed in full
 * over the datagram (the frame must hold all of it), unless it is 0.
 */
function withPort(frame: Uint8Array, field: 'sport' | 'dport', port: number): Uint8Array {
  const out = frame.slice();
  writeU16(out, AT[field], port);
  if (readU16(out, AT.checksum) !== 0) {
    const datagram = out.subarray(AT.sport, AT.sport + readU16(out, AT.udpLength));
    writeU16(out, AT.checksum, udpChecksum('ipv4', addressAt(out, AT.saddr), addressAt(out, AT.daddr), datagram));
  }
  return out;
}

type Rule = 'query' | 'reply' | 'untouched';

/** Which documented rule applies to a frame. */
function ruleFor(frame: Uint8Array, config: Config): Rule {
  const inspected =
    frame.byteLength >= AT.payload &&
    readU16(frame, AT.etherType) === ETHERTYPE_IPV4 &&
    frame[AT.versionIhl] === 0x45 &&
    (readU16(frame, AT.fragment) & 0x1fff) === 0 &&
    frame[AT.protocol] === IPPROTO_UDP;
  if (!inspected) return 'untouched';
  if (readU16(frame, AT.dport) === config.dnsPort && addressAt(frame, AT.daddr) === config.dnsIp) return 'query';
  if (readU16(frame, AT.sport) === config.listenPort && addressAt(frame, AT.saddr) === config.dnsIp) return 'reply';
  return 'untouched';
}

/** What the program should turn a complete frame into, from its documented rules. */
function expectedOutput(frame: Uint8Array, config: Config): Uint8Array {
  switch (ruleFor(frame, config)) {
    case 'query':
      return withPort(frame, 'dport', config.listenPort);
    case 'reply':
      return withPort(frame, 'sport', config.dnsPort);
    case 'untouched':
      return frame;
  }
}

function queryFrame(config: Config, payload: Uint8Array, extra: Partial<Ipv4UdpFrameSpec> = {}): Uint8Array {
  return ipv4UdpFrame({ ip: { src: CLIENT_IP, dst: config.dnsIp }, udp: { srcPort: CLIENT_PORT, dstPort: config.dnsPort, payload }, ...extra });
}

function replyFrame(config: Config, payload: Uint8Array, extra: Partial<Ipv4UdpFrameSpec> = {}): Uint8Array {
  return ipv4UdpFrame({ ip: { src: config.dnsIp, dst: CLIENT_IP }, udp: { srcPort: config.listenPort, dstPort: CLIENT_PORT, payload }, ...extra });
}

/** A DNS-sized payload: a 12-byte header and a question for example.com A. */
const DNS_QUERY = Uint8Array.from(Buffer.from('abcd01000001000000000000076578616d706c6503636f6d0000010001', 'hex'));

/** A small deterministic PRNG (mulberry32), so that failures reproduce. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
}

describeWithBpf('xdp-dns-forward in the kernel', () => {
  const loaded = new Map<string, Program>();
  /** The program built for a configuration, loaded once. */
  const programFor = (config: Config): Program => {
    const key = `${config.dnsIp}:${config.dnsPort}->${config.listenPort}`;
    let program = loaded.get(key);
    if (!program) {
      program = loadProgram(PROGRAMS['xdp-dns-forward']!.build({ dnsIp: config.dnsIp, dnsPort: config.dnsPort, listenPort: config.listenPort }));
      loaded.set(key, program);
    }
    return program;
  };
  afterAll(() => {
    for (const program of loaded.values()) program.close();
  });

  /** Run once; the verdict must be XDP_PASS. */
  const run = (config: Config, frame: Uint8Array): Uint8Array => {
    const result = programFor(config).testRun(frame, { extraRoom: 0 });
    expect(result.retval, 'XDP verdict').toBe(XDP_PASS);
    return result.data;
  };

  /** Run and compare with the expectation; the message shows both frames when they differ. */
  const expectOutput = (config: Config, frame: Uint8Array, expected: Uint8Array, what: string): void => {
    const output = run(config, frame);
    if (!sameBytes(output, expected)) {
      expect.fail(`${what}\ninput:\n${hexDump(frame)}\nexpected:\n${hexDump(expected)}\nkernel output:\n${hexDump(output)}`);
    }
  };

  describe('queries and replies', () => {
    it('with no options given, uses the documented defaults', () => {
      const program = loadProgram(PROGRAMS['xdp-dns-forward']!.build({}));
      try {
        const query = queryFrame(DEFAULTS, DNS_QUERY);
        const { retval, data } = program.testRun(query);
        expect(retval).toBe(XDP_PASS);
        expect(parseFrame(data).udp?.dstPort).toBe(DEFAULTS.listenPort);
      } finally {
        program.close();
      }
    });

    it.each(CONFIGS)('$name: a query to dnsIp:dnsPort changes only its destination port and UDP checksum', (config) => {
      const query = queryFrame(config, DNS_QUERY);
      const output = run(config, query);
      const parsed = parseFrame(output);
      expect(parsed.ipv4?.checksumValid, 'IPv4 header checksum').toBe(true);
      expect(parsed.udp).toMatchObject({ srcPort: CLIENT_PORT, dstPort: config.listenPort, checksumValid: true });
      expect(parsed.udp?.checksum).toBe(parsed.udp?.expectedChecksum);
      const mayChange = [AT.dport, AT.dport + 1, AT.checksum, AT.checksum + 1];
      expect(differingOffsets(query, output).filter((at) => !mayChange.includes(at)), 'offsets changed besides port and checksum').toEqual([]);
      expect(sameBytes(output, withPort(query, 'dport', config.listenPort))).toBe(true);
    });

    it.each(CONFIGS)('$name: a reply from dnsIp:listenPort gets source port dnsPort and a correct checksum', (config) => {
      const reply = replyFrame(config, DNS_QUERY);
      const output = run(config, reply);
      const parsed = parseFrame(output);
      expect(parsed.ipv4?.checksumValid, 'IPv4 header checksum').toBe(true);
      expect(parsed.udp).toMatchObject({ srcPort: config.dnsPort, dstPort: CLIENT_PORT, checksumValid: true });
      const mayChange = [AT.sport, AT.sport + 1, AT.checksum, AT.checksum + 1];
      expect(differingOffsets(reply, output).filter((at) => !mayChange.includes(at)), 'offsets changed besides port and checksum').toEqual([]);
      expect(sameBytes(output, withPort(reply, 'sport', config.dnsPort))).toBe(true);
    });

    it('rewrites a query and a reply padded to the 60-byte Ethernet minimum, leaving the padding alone', () => {
      const query = queryFrame(DEFAULTS, Uint8Array.of(7), { trailer: 60 - 43 });
      expect(query.byteLength).toBe(60);
      expectOutput(DEFAULTS, query, withPort(query, 'dport', DEFAULTS.listenPort), 'padded query');
      const reply = replyFrame(DEFAULTS, new Uint8Array(0), { trailer: 18 });
      expectOutput(DEFAULTS, reply, withPort(reply, 'sport', DEFAULTS.dnsPort), 'padded reply');
    });

    it('keeps a zero UDP checksum ("no checksum") zero in both directions', () => {
      for (const config of CONFIGS) {
        const query = queryFrame(config, DNS_QUERY, { udp: { srcPort: CLIENT_PORT, dstPort: config.dnsPort, payload: DNS_QUERY, checksum: 'none' } });
        const output = run(config, query);
        expect(readU16(output, AT.checksum)).toBe(0);
        expect(readU16(output, AT.dport)).toBe(config.listenPort);
        const reply = replyFrame(config, DNS_QUERY, { udp: { srcPort: config.listenPort, dstPort: CLIENT_PORT, payload: DNS_QUERY, checksum: 'none' } });
        const replied = run(config, reply);
        expect(readU16(replied, AT.checksum)).toBe(0);
        expect(readU16(replied, AT.sport)).toBe(config.dnsPort);
      }
    });
  });

  describe('packets it must not touch pass byte for byte', () => {
    const { dnsIp, dnsPort, listenPort } = DEFAULTS;
    const udp = (src: string, dst: string, srcPort: number, dstPort: number): Uint8Array =>
      ipv4UdpFrame({ ip: { src, dst }, udp: { srcPort, dstPort, payload: DNS_QUERY } });
    const cases: [string, Uint8Array][] = [
      ['UDP to dnsIp on port 54', udp(CLIENT_IP, dnsIp, CLIENT_PORT, 54)],
      ['UDP to dnsIp on port 52', udp(CLIENT_IP, dnsIp, CLIENT_PORT, 52)],
      ['UDP to dnsIp on port 13568 (53 byte-swapped)', udp(CLIENT_IP, dnsIp, CLIENT_PORT, 0x3500)],
      ['UDP to dnsIp on listenPort', udp(CLIENT_IP, dnsIp, CLIENT_PORT, listenPort)],
      ['UDP port 53 to another address', udp(CLIENT_IP, '100.127.136.240', CLIENT_PORT, dnsPort)],
      ['UDP port 53 to dnsIp with its bytes reversed', udp(CLIENT_IP, '241.136.127.100', CLIENT_PORT, dnsPort)],
      ['UDP port 53 from dnsIp to another address', udp(dnsIp, CLIENT_IP, CLIENT_PORT, dnsPort)],
      ['UDP from listenPort of another address', udp('100.127.136.242', CLIENT_IP, listenPort, CLIENT_PORT)],
      ['UDP from dnsIp on port 53', udp(dnsIp, CLIENT_IP, dnsPort, CLIENT_PORT)],
      ['UDP from dnsIp on listenPort + 1', udp(dnsIp, CLIENT_IP, listenPort + 1, CLIENT_PORT)],
      ['UDP from dnsIp on listenPort byte-swapped', udp(dnsIp, CLIENT_IP, ((listenPort & 0xff) << 8) | (listenPort >> 8), CLIENT_PORT)],
      ['TCP SYN to dnsIp:53', ipv4TcpFrame({ ip: { src: CLIENT_IP, dst: dnsIp }, tcp: { srcPort: CLIENT_PORT, dstPort: dnsPort } })],
      ['TCP from dnsIp:listenPort', ipv4TcpFrame({ ip: { src: dnsIp, dst: CLIENT_IP }, tcp: { srcPort: listenPort, dstPort: CLIENT_PORT, flags: 0x12 } })],
      ['IPv6 UDP to port 53', ipv6UdpFrame({ ip: { src: '64:ff9b::6440:7', dst: '64:ff9b::647f:88f1' }, udp: { srcPort: CLIENT_PORT, dstPort: dnsPort, payload: DNS_QUERY } })],
      ['IPv6 UDP from listenPort', ipv6UdpFrame({ ip: { src: '64:ff9b::647f:88f1', dst: '64:ff9b::6440:7' }, udp: { srcPort: listenPort, dstPort: CLIENT_PORT, payload: DNS_QUERY } })],
      ['ARP who-has dnsIp', arpRequestFrame({ senderIp: CLIENT_IP, targetIp: dnsIp })],
      ['802.1Q-tagged query to dnsIp:53', queryFrame(DEFAULTS, DNS_QUERY, { eth: { vlan: 100 } })],
      ['802.1Q-tagged reply from dnsIp:listenPort', replyFrame(DEFAULTS, DNS_QUERY, { eth: { vlan: 100 } })],
      [
        'ICMP to dnsIp whose first bytes read like a UDP header to port 53',
        ethernetFrame(ETHERTYPE_IPV4, ipv4Packet({ src: CLIENT_IP, dst: dnsIp, protocol: 1 }, udpDatagram('ipv4', CLIENT_IP, dnsIp, { srcPort: CLIENT_PORT, dstPort: dnsPort, payload: DNS_QUERY }))),
      ],
      ['an unknown EtherType (0x88b5) carrying a query', ethernetFrame(0x88b5, queryFrame(DEFAULTS, DNS_QUERY).subarray(14))],
    ];

    it.each(cases)('%s', (_, frame) => {
      expect(ruleFor(frame, DEFAULTS), 'the documented rules leave it alone').toBe('untouched');
      expectOutput(DEFAULTS, frame, frame, 'must pass unchanged');
    });
  });

  describe('truncated packets', () => {
    const query = queryFrame(DEFAULTS, DNS_QUERY);
    const rewrittenQuery = withPort(query, 'dport', DEFAULTS.listenPort);
    const reply = replyFrame(DEFAULTS, DNS_QUERY);
    const rewrittenReply = withPort(reply, 'sport', DEFAULTS.dnsPort);

    it('below 14 bytes (no Ethernet header) cannot be test-run: the kernel refuses them', () => {
      for (let length = 0; length < 14; length++) {
        expect(() => programFor(DEFAULTS).testRun(query.subarray(0, length)), `${length} bytes`).toThrow(BpfError);
      }
    });

    it('cut at every byte from 14 to 41 (inside the IPv4 and UDP headers) pass unchanged', () => {
      for (const frame of [query, reply]) {
        for (let length = 14; length < AT.payload; length++) {
          const cut = frame.slice(0, length);
          expectOutput(DEFAULTS, cut, cut, `truncated to ${length} bytes`);
        }
      }
    });

    it('cut anywhere in the payload (42 bytes on) are rewritten as if whole: the checksum stays that of the whole datagram', () => {
      for (let length = AT.payload; length <= query.byteLength; length++) {
        expectOutput(DEFAULTS, query.slice(0, length), rewrittenQuery.subarray(0, length), `query truncated to ${length} bytes`);
        expectOutput(DEFAULTS, reply.slice(0, length), rewrittenReply.subarray(0, length), `reply truncated to ${length} bytes`);
      }
    });
  });

  describe('IPv4 options and fragments', () => {
    const config = DEFAULTS;
    const ip = { src: CLIENT_IP, dst: config.dnsIp };
    const query = { srcPort: CLIENT_PORT, dstPort: config.dnsPort, payload: DNS_QUERY };

    it('passes queries and replies with IP options (IHL 6 and 15) unchanged, as documented', () => {
      const nops = (n: number): Uint8Array => new Uint8Array(n).fill(1);
      for (const options of [nops(4), nops(40)]) {
        const withOptions = ipv4UdpFrame({ ip: { ...ip, options }, udp: query });
        expect(parseFrame(withOptions).ipv4?.headerBytes).toBe(20 + options.byteLength);
        expectOutput(config, withOptions, withOptions, `query with ${options.byteLength} option bytes`);
        const reply = ipv4UdpFrame({ ip: { src: config.dnsIp, dst: CLIENT_IP, options }, udp: { srcPort: config.listenPort, dstPort: CLIENT_PORT, payload: DNS_QUERY } });
        expectOutput(config, reply, reply, `reply with ${options.byteLength} option bytes`);
      }
    });

    it('passes headers whose version/IHL byte is not 0x45 unchanged (IHL 4, version 5, version 6)', () => {
      for (const versionIhl of [0x44, 0x55, 0x65, 0x40]) {
        const frame = ipv4UdpFrame({ ip: { ...ip, versionIhl }, udp: query });
        expectOutput(config, frame, frame, `version/IHL byte 0x${versionIhl.toString(16)}`);
      }
    });

    it('rewrites a first fragment so that the reassembled datagram carries the fully recomputed checksum', () => {
      const fragments = ipv4UdpFragments({ ip, udp: query }, 16);
      expect(fragments.length).toBeGreaterThan(2);
      const rewritten = ipv4UdpFragments({ ip, udp: { ...query, dstPort: config.listenPort } }, 16);
      expectOutput(config, fragments[0]!, rewritten[0]!, 'first fragment (MF set, offset 0)');
      fragments.slice(1).forEach((fragment, i) => expectOutput(config, fragment, fragment, `fragment ${i + 2}`));
    });

    it('leaves non-first fragments alone even where their bytes read like a UDP query to dnsIp:53', () => {
      const lookalike = udpDatagram('ipv4', ip.src, ip.dst, query);
      for (const fragmentOffset of [8, 1480, 0x1000 * 8, 0x1fff * 8]) {
        for (const moreFragments of [false, true]) {
          const frame = ethernetFrame(ETHERTYPE_IPV4, ipv4Packet({ ...ip, protocol: IPPROTO_UDP, fragmentOffset, moreFragments }, lookalike));
          expectOutput(config, frame, frame, `fragment at offset ${fragmentOffset}${moreFragments ? ' with MF' : ''}`);
        }
      }
    });

    it('rewrites unfragmented queries whatever the DF and reserved flag bits say', () => {
      for (const flags of [{ dontFragment: true }, { reservedFlag: true }, { dontFragment: true, reservedFlag: true }]) {
        const frame = ipv4UdpFrame({ ip: { ...ip, ...flags }, udp: query });
        expectOutput(config, frame, withPort(frame, 'dport', config.listenPort), `flags ${JSON.stringify(flags)}`);
      }
    });
  });

  describe('checksum arithmetic against full recomputation', () => {
    /** Frames whose first payload word is `word`; everything else is fixed. */
    const withWord = (word: number): Uint8Array => Uint8Array.of(word >> 8, word & 0xff, ...DNS_QUERY);
    const directions = [
      { name: 'query', build: queryFrame, field: 'dport', value: (c: Config) => c.listenPort },
      { name: 'reply', build: replyFrame, field: 'sport', value: (c: Config) => c.dnsPort },
    ] as const;

    /**
     * The UDP checksum a frame would carry with each possible first payload
     * word: the full sum with that word zero, plus the word, folded (the sum
     * is an ordinary integer sum, so adding the word last changes nothing).
     */
    const checksumByWord = (frame: Uint8Array): ((word: number) => number) => {
      const zeroed = frame.slice();
      writeU16(zeroed, AT.payload, 0);
      writeU16(zeroed, AT.checksum, 0);
      const pseudo = Uint8Array.of(...zeroed.subarray(AT.saddr, AT.daddr + 4), 0, IPPROTO_UDP, ...zeroed.subarray(AT.udpLength, AT.udpLength + 2));
      const rest = onesComplementSum(pseudo, zeroed.subarray(AT.sport));
      return (word) => internetChecksum(Uint8Array.of(rest >> 8, rest & 0xff, word >> 8, word & 0xff)) || 0xffff;
    };

    const BOUNDARIES = new Set([0x0001, 0x0002, 0x7fff, 0x8000, 0xfffe, 0xffff]);

    for (const config of CONFIGS) {
      for (const direction of directions) {
        it(`${config.name}, ${direction.name}: payloads whose old or new checksum is 0x0001, 0x0002, 0x7fff, 0x8000, 0xfffe or 0xffff`, () => {
          const template = direction.build(config, withWord(0));
          const before = checksumByWord(template);
          const after = checksumByWord(withPort(template, direction.field, direction.value(config)));
          const words = Array.from({ length: 0x10000 }, (_, word) => word).filter((word) => BOUNDARIES.has(before(word)) || BOUNDARIES.has(after(word)));
          // Every boundary value is reached on each side, including a computed 0 sent as 0xffff.
          for (const boundary of BOUNDARIES) {
            expect(words.some((w) => before(w) === boundary), `old checksum 0x${boundary.toString(16)} found`).toBe(true);
            expect(words.some((w) => after(w) === boundary), `new checksum 0x${boundary.toString(16)} found`).toBe(true);
          }
          for (const word of words) {
            const frame = direction.build(config, withWord(word));
            expect(readU16(frame, AT.checksum), 'builder and search agree').toBe(before(word));
            const expected = withPort(frame, direction.field, direction.value(config));
            expect(readU16(expected, AT.checksum)).toBe(after(word));
            expectOutput(config, frame, expected, `first payload word 0x${word.toString(16)}`);
          }
        });
      }
    }

    for (const direction of directions) {
      it(`defaults, ${direction.name}: ${SWEEP_STRIDE === 1 ? 'every one of the 65536 first payload words, so every old checksum 1..0xffff' : `every ${SWEEP_STRIDE}th of the 65536 first payload words (emulated), so as many old checksums`}`, () => {
        const failures: string[] = [];
        const oldChecksums = new Set<number>();
        const program = programFor(DEFAULTS);
        for (let word = 0; word <= 0xffff; word += SWEEP_STRIDE) {
          const frame = direction.build(DEFAULTS, withWord(word));
          oldChecksums.add(readU16(frame, AT.checksum));
          const expected = withPort(frame, direction.field, direction.value(DEFAULTS));
          const { retval, data } = program.testRun(frame, { extraRoom: 0 });
          if (retval !== XDP_PASS || !sameBytes(data, expected)) {
            failures.push(`word 0x${word.toString(16)}: retval ${retval}, checksum 0x${readU16(frame, AT.checksum).toString(16)} -> 0x${readU16(data, AT.checksum).toString(16)}, expected 0x${readU16(expected, AT.checksum).toString(16)}`);
            if (failures.length >= 10) break;
          }
        }
        expect(failures).toEqual([]);
        expect(oldChecksums.size).toBe(SWEEP_STRIDE === 1 ? 0xffff : Math.ceil(0x10000 / SWEEP_STRIDE));
        expect(oldChecksums.has(0)).toBe(false);
      });
    }

    it(`${RANDOM_PACKETS} random packets (seeded) over all configurations: queries, replies, near misses and noise`, () => {
      const random = prng(0x5eed_d45);
      const int = (below: number): number => Math.floor(random() * below);
      const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
      const bytes = (length: number): Uint8Array => Uint8Array.from({ length }, () => int(256));
      const randomIp = (): string => `${int(256)}.${int(256)}.${int(256)}.${int(256)}`;
      const nearMiss = (port: number): number => port ^ (1 << int(16));
      const counts = { query: 0, reply: 0, untouched: 0 };
      const failures: string[] = [];
      for (let i = 0; i < RANDOM_PACKETS && failures.length < 10; i++) {
        const config = pick(CONFIGS);
        const payload = bytes(int(600));
        const checksum = random() < 0.1 ? ('none' as const) : ('compute' as const);
        const flags = { dontFragment: random() < 0.5, id: int(0x10000), ttl: 1 + int(255) };
        const kind = int(6);
        const [src, dst, srcPort, dstPort] =
          kind === 0 ? [randomIp(), config.dnsIp, 1 + int(65535), config.dnsPort]
          : kind === 1 ? [config.dnsIp, randomIp(), config.listenPort, 1 + int(65535)]
          : kind === 2 ? [randomIp(), config.dnsIp, 1 + int(65535), nearMiss(config.dnsPort)]
          : kind === 3 ? [randomIp(), pick([config.dnsIp, randomIp()]), 1 + int(65535), config.dnsPort]
          : kind === 4 ? [pick([config.dnsIp, randomIp()]), randomIp(), nearMiss(config.listenPort), 1 + int(65535)]
          : [randomIp(), randomIp(), int(65536), int(65536)];
        const frame = ipv4UdpFrame({ ip: { src, dst, ...flags }, udp: { srcPort, dstPort, payload, checksum }, trailer: int(3) === 0 ? int(20) : 0 });
        const expected = expectedOutput(frame, config);
        const { retval, data } = programFor(config).testRun(frame, { extraRoom: 0 });
        if (retval !== XDP_PASS || !sameBytes(data, expected)) {
          failures.push(`#${i} ${config.name} ${src}:${srcPort} -> ${dst}:${dstPort} (${payload.byteLength} bytes, checksum ${checksum}): retval ${retval}\nexpected:\n${hexDump(expected)}\nkernel output:\n${hexDump(data)}`);
        }
        counts[ruleFor(frame, config)]++;
      }
      expect(failures).toEqual([]);
      console.log(`random packets: ${counts.query} queries and ${counts.reply} replies rewritten, ${counts.untouched} untouched`);
      // Each kind is at least a tenth of the packets (about 25%, 17% and 58% with this seed).
      for (const count of Object.values(counts)) expect(count).toBeGreaterThan(RANDOM_PACKETS / 10);
    });
  });
});
