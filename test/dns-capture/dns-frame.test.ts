/**
 * decodeDnsFrame on frames built by test/support/packets.ts around DNS
 * messages encoded by dns-packet (or by hand, for malformed ones).
 */
import dnsPacket from 'dns-packet';
import { describe, expect, it } from 'vitest';
import { decodeDnsFrame } from '../../src/loader/dns-frame.js';
import { ethernetFrame, ETHERTYPE_IPV6, ipv4TcpFrame, ipv4UdpFragments, ipv4UdpFrame, ipv6Packet, ipv6UdpFrame, udpDatagram } from '../support/packets.js';
import { rawDns } from './live-traffic.js';

const captured = (data: Uint8Array) => ({ data, networkOffset: 14, timestampNs: 1_700_000_000_123_456_789n, direction: 'in' as const, ifindex: 7 });

const RESPONSE = dnsPacket.encode({
  type: 'response',
  id: 0xbeef,
  flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
  questions: [{ type: 'A', name: 'example.test' }],
  answers: [
    { type: 'A', name: 'example.test', ttl: 60, data: '192.0.2.80' },
    { type: 'AAAA', name: 'example.test', ttl: 61, data: '2001:db8::80' },
    { type: 'CNAME', name: 'www.example.test', ttl: 62, data: 'example.test' },
    { type: 'MX', name: 'example.test', ttl: 63, data: { preference: 10, exchange: 'mail.example.test' } },
    { type: 'TXT', name: 'example.test', ttl: 64, data: ['hello world', 'second'] },
    { type: 'SRV', name: '_dns._udp.example.test', ttl: 65, data: { priority: 1, weight: 2, port: 53, target: 'ns.example.test' } },
    { type: 'SOA', name: 'example.test', ttl: 66, data: { mname: 'ns.example.test', rname: 'admin.example.test', serial: 7, refresh: 8, retry: 9, expire: 10, minimum: 11 } },
  ],
});

describe('decodeDnsFrame', () => {
  it('decodes an IPv4 response: endpoints, header fields and every answer as dig presents it', () => {
    const frame = ipv4UdpFrame({ ip: { src: '192.0.2.53', dst: '192.0.2.1' }, udp: { srcPort: 53, dstPort: 40000, payload: RESPONSE } });
    expect(decodeDnsFrame(captured(frame))).toEqual({
      timestampNs: 1_700_000_000_123_456_789n,
      direction: 'in',
      ifindex: 7,
      ipVersion: 4,
      src: { address: '192.0.2.53', port: 53 },
      dst: { address: '192.0.2.1', port: 40000 },
      size: RESPONSE.byteLength,
      id: 0xbeef,
      kind: 'response',
      opcode: 'QUERY',
      rcode: 'NOERROR',
      flags: ['aa', 'rd', 'ra'],
      questions: [{ name: 'example.test', type: 'A', class: 'IN' }],
      answers: [
        { name: 'example.test', type: 'A', class: 'IN', ttl: 60, data: '192.0.2.80' },
        { name: 'example.test', type: 'AAAA', class: 'IN', ttl: 61, data: '2001:db8::80' },
        { name: 'www.example.test', type: 'CNAME', class: 'IN', ttl: 62, data: 'example.test' },
        { name: 'example.test', type: 'MX', class: 'IN', ttl: 63, data: '10 mail.example.test' },
        { name: 'example.test', type: 'TXT', class: 'IN', ttl: 64, data: '"hello world" "second"' },
        { name: '_dns._udp.example.test', type: 'SRV', class: 'IN', ttl: 65, data: '1 2 53 ns.example.test' },
        { name: 'example.test', type: 'SOA', class: 'IN', ttl: 66, data: 'ns.example.test admin.example.test 7 8 9 10 11' },
      ],
      status: 'ok',
    });
  });

  it('decodes an IPv6 query with compressed addresses', () => {
    const payload = dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'AAAA', name: 'six.test' }] });
    const frame = ipv6UdpFrame({ ip: { src: '2001:db8::1', dst: '2001:db8:0:0:1::53' }, udp: { srcPort: 41000, dstPort: 53, payload } });
    expect(decodeDnsFrame(captured(frame))).toMatchObject({
      ipVersion: 6,
      src: { address: '2001:db8::1', port: 41000 },
      dst: { address: '2001:db8::1:0:0:53', port: 53 },
      kind: 'query',
      id: 7,
      flags: ['rd'],
      questions: [{ name: 'six.test', type: 'AAAA', class: 'IN' }],
      answers: [],
      status: 'ok',
    });
  });

  it('leaves Ethernet padding out of the message', () => {
    const payload = rawDns(0x0102, 0x8183, 0);
    const frame = ipv4UdpFrame({ ip: { src: '192.0.2.53', dst: '192.0.2.1' }, udp: { srcPort: 53, dstPort: 40000, payload }, trailer: 10 });
    expect(decodeDnsFrame(captured(frame))).toMatchObject({ size: 12, id: 0x0102, kind: 'response', rcode: 'NXDOMAIN', flags: ['rd', 'ra'], status: 'ok' });
  });

  it('reports a message dns-packet cannot decode as malformed, with its header fields', () => {
    // QDCOUNT 1, and the question name runs past the end.
    const payload = rawDns(0x4242, 0x8582, 1, Uint8Array.of(20, 0x61, 0x62));
    const frame = ipv4UdpFrame({ ip: { src: '192.0.2.53', dst: '192.0.2.1' }, udp: { srcPort: 53, dstPort: 40000, payload } });
    const message = decodeDnsFrame(captured(frame));
    expect(message).toMatchObject({ id: 0x4242, kind: 'response', rcode: 'SERVFAIL', flags: ['aa', 'rd', 'ra'], questions: [], answers: [], status: 'malformed' });
    expect(message?.problem).toMatch(/\S/);
  });

  it('reports a UDP length too short for a DNS header as malformed', () => {
    const frame = ipv4UdpFrame({ ip: { src: '192.0.2.1', dst: '192.0.2.53' }, udp: { srcPort: 40000, dstPort: 53, payload: rawDns(1, 0x0100, 1, new Uint8Array(8)) } });
    // The UDP length field (Ethernet 14 + IPv4 20 + 4) claims 15 bytes: 7 of DNS.
    frame[14 + 20 + 4] = 0;
    frame[14 + 20 + 5] = 15;
    expect(decodeDnsFrame(captured(frame))).toMatchObject({ status: 'malformed', problem: 'UDP length 15 leaves no room for the 12-byte DNS header', id: 1 });
  });

  it('reads only the header of a first fragment, and nothing from later ones', () => {
    const [first, second] = ipv4UdpFragments({ ip: { src: '192.0.2.53', dst: '192.0.2.1' }, udp: { srcPort: 53, dstPort: 40000, payload: RESPONSE } }, 64);
    expect(decodeDnsFrame(captured(first!))).toMatchObject({ id: 0xbeef, kind: 'response', rcode: 'NOERROR', questions: [], answers: [], status: 'fragment' });
    expect(decodeDnsFrame(captured(second!))).toBeUndefined();

    const datagram = udpDatagram('ipv6', '2001:db8::53', '2001:db8::1', { srcPort: 53, dstPort: 40000, payload: RESPONSE });
    const fragmentHeader = Uint8Array.of(17, 0, 0, 1, 0, 0, 0, 9);
    const body = new Uint8Array(8 + 48);
    body.set(fragmentHeader);
    body.set(datagram.subarray(0, 48), 8);
    const v6first = ethernetFrame(ETHERTYPE_IPV6, ipv6Packet({ src: '2001:db8::53', dst: '2001:db8::1', nextHeader: 44 }, body));
    expect(decodeDnsFrame(captured(v6first))).toMatchObject({ ipVersion: 6, id: 0xbeef, kind: 'response', status: 'fragment' });
  });

  it('finds no DNS message in TCP or in a frame too short for a DNS header', () => {
    expect(decodeDnsFrame(captured(ipv4TcpFrame({ ip: { src: '192.0.2.1', dst: '192.0.2.53' }, tcp: { srcPort: 40000, dstPort: 53, payload: RESPONSE } })))).toBeUndefined();
    const short = ipv4UdpFrame({ ip: { src: '192.0.2.1', dst: '192.0.2.53' }, udp: { srcPort: 40000, dstPort: 53, payload: new Uint8Array(11) } });
    expect(decodeDnsFrame(captured(short))).toBeUndefined();
  });
});
