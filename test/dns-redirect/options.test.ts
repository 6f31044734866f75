/**
 * tc-dns-redirect without the kernel: its options (the `endpoint` kind
 * included), the constants it inlines, the checksum differences it
 * precomputes, and the library's input checks, which come before any
 * system call.
 */
import { describe, expect, it } from 'vitest';
import { be16, ipv4 } from '../../src/asm/byteorder.js';
import { checksumDiff } from '../../src/asm/packet-tc.js';
import { disassemble } from '../../src/asm/disasm/index.js';
import { attachDnsRedirect, type DnsRedirectOptions } from '../../src/loader/dns-redirect.js';
import { OptionError, PROGRAMS } from '../../src/programs/index.js';
import { parseEndpoint } from '../../src/programs/options.js';
import { onesComplementSum } from '../support/packets.js';

const SETTINGS = { resolver: '127.0.0.11:35353', upstream: '198.51.100.53:53', containerIp: '192.0.2.2' };

describe('tc-dns-redirect options', () => {
  it.each([
    ['127.0.0.11', 'no port'],
    ['127.0.0.11:0', 'port 0'],
    ['127.0.0.11:65536', 'port above 65535'],
    ['127.0.0.11:053x', 'not a number'],
    ['127.0.0.256:53', 'not an address'],
    ['[::1]:53', 'IPv6'],
    [':53', 'no address'],
  ])('--upstream %s is refused (%s), naming the flag and the expected form', (value) => {
    for (const name of ['tc-dns-redirect-lo', 'tc-dns-redirect-eth']) {
      expect(() => PROGRAMS[name]!.build({ ...SETTINGS, upstream: value })).toThrow(OptionError);
      expect(() => PROGRAMS[name]!.build({ ...SETTINGS, upstream: value })).toThrow(`--upstream: '${value}' is not an IPv4 address and port (A.B.C.D:PORT`);
    }
  });

  it('reads an endpoint as its address and port', () => {
    expect(parseEndpoint('127.0.0.11:35353')).toEqual({ address: '127.0.0.11', port: 35353 });
    expect(parseEndpoint('0.0.0.0:1')).toEqual({ address: '0.0.0.0', port: 1 });
    expect(parseEndpoint('1.2.3.4:65535')).toEqual({ address: '1.2.3.4', port: 65535 });
  });

  it('each program takes only the interface index it redirects to', () => {
    expect(() => PROGRAMS['tc-dns-redirect-lo']!.build({ ...SETTINGS, loIfindex: 1 })).toThrow(/loIfindex: unknown option/);
    expect(() => PROGRAMS['tc-dns-redirect-eth']!.build({ ...SETTINGS, ethIfindex: 2 })).toThrow(/ethIfindex: unknown option/);
    expect(() => PROGRAMS['tc-dns-redirect-lo']!.build({ ...SETTINGS, ethIfindex: 0 })).toThrow('--eth-ifindex: 0 is not an interface index');
  });

  it('inlines the interface index, addresses and ports as immediates', () => {
    const lo = disassemble(PROGRAMS['tc-dns-redirect-lo']!.build({ ...SETTINGS, ethIfindex: 0x1234 }));
    // r1 = ifindex right before bpf_redirect_neigh (helper 152), whose other arguments are 0.
    expect(lo).toMatch(/r1 = 0x1234\n.*r2 = 0x0\n.*r3 = 0x0\n.*r4 = 0x0\n.*call 0x98\n/);
    expect(lo).toContain(`0x${ipv4('198.51.100.53').toString(16)}`);
    expect(lo).toContain(`if r4 != 0x${be16(35353).toString(16)} goto`); // the destination port
    const eth = disassemble(PROGRAMS['tc-dns-redirect-eth']!.build({ ...SETTINGS, loIfindex: 9 }));
    // bpf_redirect(9, BPF_F_INGRESS).
    expect(eth).toMatch(/r1 = 0x9\n.*r2 = 0x1\n.*call 0x17\n/);
  });

  it('skips the port checksum update when the resolver and upstream ports are the same', () => {
    const calls = (upstream: string) => (disassemble(PROGRAMS['tc-dns-redirect-lo']!.build({ ...SETTINGS, upstream })).match(/call 0xb\n/g) ?? []).length;
    expect(calls('198.51.100.53:53')).toBe(2);
    expect(calls('198.51.100.53:35353')).toBe(1);
  });
});

describe('checksumDiff', () => {
  /** Bytes of `value` as a little-endian load reads them from memory. */
  const memory = (value: number, bytes: 2 | 4) => Uint8Array.from({ length: bytes }, (_, i) => (value >>> (8 * i)) & 0xff);
  /** The ones'-complement sum of the fields in network order, independently of the code under test. */
  const sum = (fields: [number, 2 | 4][]) => onesComplementSum(...fields.map(([value, bytes]) => memory(value, bytes)));

  it('is, byte-swapped into load order, the sum of the new fields minus the old ones, modulo 0xffff', () => {
    const cases: { from: [number, 2 | 4][]; to: [number, 2 | 4][] }[] = [
      { from: [[ipv4('127.0.0.1'), 4], [ipv4('127.0.0.11'), 4]], to: [[ipv4('192.0.2.2'), 4], [ipv4('198.51.100.53'), 4]] },
      { from: [[0x1a89, 2]], to: [[0x3500, 2]] },
      { from: [[ipv4('255.255.255.255'), 4]], to: [[ipv4('0.0.0.0'), 4]] },
    ];
    for (const { from, to } of cases) {
      const diff = checksumDiff(from.map(([value, bytes], i) => ({ bytes, from: value, to: to[i]![0] })));
      // new − old ≡ sum(new) + ~sum(old) in ones' complement, in network order; swap into load order.
      const network = (sum(to) + (0xffff - sum(from))) % 0xffff;
      const load = ((network & 0xff) << 8) | (network >> 8);
      expect(diff % 0xffff).toBe(load % 0xffff);
    }
  });

  it('is 0 when nothing changes', () => {
    expect(checksumDiff([{ bytes: 4, from: ipv4('192.0.2.1'), to: ipv4('192.0.2.1') }])).toBe(0);
    // Swapping two words leaves the sum alone.
    expect(checksumDiff([{ bytes: 4, from: 0x12345678, to: 0x56781234 }])).toBe(0);
  });

  it('refuses a value wider than its field', () => {
    expect(() => checksumDiff([{ bytes: 2, from: 0x10000, to: 0 }])).toThrow('field value 65536 does not fit 2 bytes');
  });
});

describe('attachDnsRedirect input', () => {
  const attach = (options: Record<string, unknown>) => attachDnsRedirect(options as unknown as DnsRedirectOptions);

  it.each(['resolver', 'upstream', 'containerIp'])('requires %s (the programs’ defaults are only examples)', async (missing) => {
    const options: Record<string, unknown> = { ...SETTINGS };
    delete options[missing];
    await expect(attach(options)).rejects.toThrow(/^--(resolver|upstream|container-ip): required: /);
  });

  it('names an unknown option and a bad value', async () => {
    await expect(attach({ ...SETTINGS, upsteam: '198.51.100.53:53' })).rejects.toThrow(/^upsteam: unknown option \(expected resolver, upstream, containerIp, lo, eth, attach, setRouteLocalnet, pin\)/);
    await expect(attach({ ...SETTINGS, attach: 'xdp' })).rejects.toThrow("--attach: 'xdp' is not one of auto, tcx, netlink");
    await expect(attach({ ...SETTINGS, eth: 'a/b' })).rejects.toThrow("--eth: 'a/b' is not an interface name");
    await expect(attach({ ...SETTINGS, containerIp: '192.0.2' })).rejects.toThrow("--container-ip: '192.0.2' is not an IPv4 address");
  });
});
