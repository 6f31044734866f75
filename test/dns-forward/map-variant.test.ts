/**
 * The map-configured xdp-dns-forward under BPF_PROG_TEST_RUN: for every
 * configuration and frame, the kernel's output must be what an independent
 * rebuild of the frame (test/support/packets.ts, full checksums) says, and
 * the same as the inline program's; a map write changes its behaviour with
 * no reload. Then both variants are timed (ns per run, the kernel's mean).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { codecs, loadProgram, type Program } from '../../src/loader/index.js';
import { buildXdpDnsForward, buildXdpDnsForwardMapConfigured, DNS_FORWARD_CONFIG_MAP, dnsForwardConfigValue } from '../../src/programs/xdp-dns-forward.js';
import { describeWithBpf } from '../loader/support.js';
import { ipv4UdpFrame, ipv4TcpFrame } from '../support/packets.js';

const XDP_PASS = 2;
const CLIENT = { address: '100.64.0.7', port: 40000 };

type Config = {
  readonly dnsIp: string;
  readonly dnsPort: number;
  readonly listenPort: number;
};

const CONFIGS: readonly Config[] = [
  { dnsIp: '100.127.136.241', dnsPort: 53, listenPort: 5053 },
  { dnsIp: '192.0.2.53', dnsPort: 53, listenPort: 1 },
  { dnsIp: '203.0.113.255', dnsPort: 65535, listenPort: 1 },
  { dnsIp: '198.51.100.1', dnsPort: 53, listenPort: 65535 },
  { dnsIp: '100.127.136.241', dnsPort: 53, listenPort: 53 },
];

function udp(src: { address: string; port: number }, dst: { address: string; port: number }, payload: Uint8Array, checksum?: 'none'): Uint8Array {
  return ipv4UdpFrame({ ip: { src: src.address, dst: dst.address }, udp: { srcPort: src.port, dstPort: dst.port, payload, ...(checksum ? { checksum } : {}) } });
}

/** Frames for `config`, each with the output the program documents, built independently. */
function cases(config: Config): { name: string; input: Uint8Array; output: Uint8Array }[] {
  const dns = { address: config.dnsIp, port: config.dnsPort };
  const listen = { address: config.dnsIp, port: config.listenPort };
  const out: { name: string; input: Uint8Array; output: Uint8Array }[] = [];
  for (const [i, payload] of [Uint8Array.of(), Uint8Array.of(0xff), new TextEncoder().encode('a DNS query, or something like it'), Uint8Array.from({ length: 301 }, (_, j) => (j * 7 + 3) & 0xff)].entries()) {
    out.push({ name: `query ${i}`, input: udp(CLIENT, dns, payload), output: udp(CLIENT, listen, payload) });
    out.push({ name: `reply ${i}`, input: udp(listen, CLIENT, payload), output: udp(dns, CLIENT, payload) });
    out.push({ name: `query ${i} without checksum`, input: udp(CLIENT, dns, payload, 'none'), output: udp(CLIENT, listen, payload, 'none') });
  }
  const untouched = [
    udp(CLIENT, { address: '198.51.100.99', port: config.dnsPort }, Uint8Array.of(1)),
    udp(CLIENT, { address: config.dnsIp, port: config.dnsPort === 1 ? 2 : config.dnsPort - 1 }, Uint8Array.of(1)),
    udp({ address: '198.51.100.99', port: config.listenPort }, CLIENT, Uint8Array.of(1)),
    ipv4TcpFrame({ ip: { src: CLIENT.address, dst: config.dnsIp }, tcp: { srcPort: CLIENT.port, dstPort: config.dnsPort } }),
  ];
  // A query when dnsPort and listenPort are equal is rewritten to itself.
  for (const [i, frame] of untouched.entries()) out.push({ name: `other ${i}`, input: frame, output: frame });
  return out;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const CONFIG_KEY = codecs.u32.encode(0);

describeWithBpf('xdp-dns-forward with its settings in a map', () => {
  let mapConfigured: Program;

  beforeAll(() => {
    mapConfigured = loadProgram(buildXdpDnsForwardMapConfigured());
  });

  afterAll(() => mapConfigured?.close());

  const configure = (config: Config) => mapConfigured.map(DNS_FORWARD_CONFIG_MAP.name).set(CONFIG_KEY, dnsForwardConfigValue(config));

  it('the config entry holds the settings in network order, as bpftool would show them', () => {
    expect(hex(dnsForwardConfigValue({ dnsIp: '100.127.136.241', dnsPort: 53, listenPort: 5053 }))).toBe('647f88f1003513bd');
  });

  it('does what the inline program does, frame for frame, for each configuration written into the same loaded program', () => {
    for (const config of CONFIGS) {
      configure(config);
      const inline = loadProgram(buildXdpDnsForward(config));
      try {
        for (const { name, input, output } of cases(config)) {
          const fromMap = mapConfigured.testRun(input);
          const fromInline = inline.testRun(input);
          expect(fromMap.retval, `${name} (${JSON.stringify(config)})`).toBe(XDP_PASS);
          expect(hex(fromMap.data), `${name} (${JSON.stringify(config)})`).toBe(hex(output));
          expect(hex(fromInline.data), `${name} (${JSON.stringify(config)}), inline`).toBe(hex(output));
        }
      } finally {
        inline.close();
      }
    }
  });

  it('with an empty (all-zero) config entry, passes DNS traffic untouched', () => {
    mapConfigured.map(DNS_FORWARD_CONFIG_MAP.name).set(CONFIG_KEY, new Uint8Array(DNS_FORWARD_CONFIG_MAP.valueSize));
    const query = udp(CLIENT, { address: '100.127.136.241', port: 53 }, Uint8Array.of(1, 2));
    expect(hex(mapConfigured.testRun(query).data)).toBe(hex(query));
  });

  it('costs a map lookup per IPv4/UDP packet: ns per run, inline against map (kernel mean of 1,000,000 runs, median of 5 rounds)', () => {
    // dnsPort = listenPort: every run takes the whole rewrite path, since the packet the kernel reuses stays a query.
    const config = { dnsIp: '100.127.136.241', dnsPort: 53, listenPort: 53 };
    configure(config);
    const inline = loadProgram(buildXdpDnsForward(config));
    try {
      const frames = {
        rewrite: udp(CLIENT, { address: config.dnsIp, port: 53 }, new Uint8Array(40)),
        'other UDP': udp(CLIENT, { address: '198.51.100.99', port: 443 }, new Uint8Array(40)),
        TCP: ipv4TcpFrame({ ip: { src: CLIENT.address, dst: config.dnsIp }, tcp: { srcPort: CLIENT.port, dstPort: 443 } }),
      };
      const report: string[] = [];
      for (const [path, frame] of Object.entries(frames)) {
        const rounds: Record<'inline' | 'map', number[]> = { inline: [], map: [] };
        for (let round = 0; round < 5; round++) {
          for (const [variant, program] of [['inline', inline], ['map', mapConfigured]] as const) {
            const run = program.testRun(frame, { repeat: 1_000_000 });
            expect(run.retval).toBe(XDP_PASS);
            expect(hex(run.data)).toBe(hex(frame));
            rounds[variant].push(run.duration);
          }
        }
        const median = (values: number[]) => [...values].sort((a, b) => a - b)[2]!;
        report.push(`${path}: inline ${median(rounds.inline)} ns, map ${median(rounds.map)} ns`);
      }
      console.log(`xdp-dns-forward ns/run (test run): ${report.join('; ')}`);
    } finally {
      inline.close();
    }
  }, 120_000);
});
