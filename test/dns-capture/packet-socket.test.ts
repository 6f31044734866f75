/**
 * Packet sockets and socket-dns-filter on live traffic in namespaces of
 * this test: a filtered socket must receive exactly the frames that an
 * unfiltered socket on the same interface receives and dns-rule.ts keeps.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ProgramBuilder, r0, r1, r6, r7 } from '../../src/asm/dsl/index.js';
import { SkBuff } from '../../src/asm/socket-filter.js';
import { captureDns } from '../../src/loader/dns-capture.js';
import { loadProgram } from '../../src/loader/index.js';
import { openPacketSocket, PacketSocketError, type CapturedFrame, type PacketSocket } from '../../src/loader/packet-socket.js';
import { buildSocketDnsFilter } from '../../src/programs/socket-dns-filter.js';
import { describeWithBpf, openFdCount } from '../loader/support.js';
import { hexDump } from '../support/packets.js';
import { udpFrame } from '../loader/support.js';
import { keepsDnsFrame } from './dns-rule.js';
import { CLIENT, query, rawDns, SILENT, sendMixedTraffic, startNetwork, type Network } from './live-traffic.js';
import { sendUdp, udpSocket } from './netns.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** Read frames until one satisfies `last` (included); fail after `ms`. */
async function readUntil(socket: PacketSocket, last: (frame: CapturedFrame) => boolean, ms = 20_000): Promise<CapturedFrame[]> {
  const frames: CapturedFrame[] = [];
  const deadline = Date.now() + ms;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no closing frame within ${ms} ms; ${frames.length} frames read`)), Math.max(0, deadline - Date.now()));
    });
    try {
      const next = await Promise.race([socket.next(), timeout]);
      if (next.done) throw new Error(`the socket closed after ${frames.length} frames`);
      frames.push(next.value);
      if (last(next.value)) return frames;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Read what arrives within `ms`. */
async function readFor(socket: PacketSocket, ms: number): Promise<CapturedFrame[]> {
  const frames: CapturedFrame[] = [];
  const stop = setTimeout(() => socket.close(), ms);
  for await (const frame of { [Symbol.asyncIterator]: () => ({ next: () => socket.next() }) }) frames.push(frame);
  clearTimeout(stop);
  return frames;
}

/** The id of the query sent last: both sockets read up to its frame. */
const MARKER_ID = 0xfeed;

/** An Ethernet/IPv4 (IHL 5) UDP frame whose DNS id (bytes 42-43) is `id`. */
function isUdpWithDnsId(frame: CapturedFrame, id: number): boolean {
  const { data } = frame;
  return frame.protocol === 0x0800 && data[14] === 0x45 && data[23] === 17 && data.byteLength >= 44 && ((data[42]! << 8) | data[43]!) === id;
}

function ipv4Source(frame: CapturedFrame): string | undefined {
  return frame.protocol === 0x0800 ? Array.from(frame.data.subarray(frame.networkOffset + 12, frame.networkOffset + 16)).join('.') : undefined;
}

function ipv6SourceIsClient(frame: CapturedFrame): boolean {
  // 2001:db8::1
  const source = frame.data.subarray(frame.networkOffset + 8, frame.networkOffset + 24);
  return frame.protocol === 0x86dd && hex(source) === '20010db8000000000000000000000001';
}

describeWithBpf('packet sockets with socket-dns-filter on live traffic', () => {
  let network: Network;
  beforeAll(async () => {
    network = await startNetwork();
  });
  afterAll(async () => {
    await network?.dispose();
  });

  it('the filtered socket receives exactly the DNS frames the rule keeps from an unfiltered capture of the same traffic', async () => {
    const { client, clientVeth } = network;
    const filter = loadProgram(buildSocketDnsFilter());
    const [filtered, unfiltered] = client.enter(() => [openPacketSocket({ iface: clientVeth, filter }), openPacketSocket({ iface: clientVeth })]);
    filter.close();
    try {
      sendMixedTraffic(network);
      // Replies to the last datagrams (ICMP) may still be on their way: let them arrive before the marker.
      await new Promise((resolve) => setTimeout(resolve, 300));
      sendUdp(client, { address: CLIENT.v4, port: 0 }, { address: SILENT.v4, port: 53 }, query('marker.test', MARKER_ID));
      const isMarkerFrame = (frame: CapturedFrame) => isUdpWithDnsId(frame, MARKER_ID);
      const kept = await readUntil(filtered, isMarkerFrame);
      const all = await readUntil(unfiltered, isMarkerFrame);

      const expected = all.filter((frame) => keepsDnsFrame(frame.data));
      expect(kept.map((f) => hex(f.data))).toEqual(expected.map((f) => hex(f.data)));

      // The traffic held every kind the filter must tell apart, so the comparison above means something.
      const protocolOf = (f: CapturedFrame) => (f.protocol === 0x0800 ? f.data[14 + 9] : f.protocol === 0x86dd ? f.data[14 + 6] : -1);
      const dropped = all.filter((frame) => !keepsDnsFrame(frame.data));
      expect(dropped.some((f) => protocolOf(f) === 6), 'TCP').toBe(true);
      expect(dropped.some((f) => protocolOf(f) === 1), 'ICMP').toBe(true);
      expect(dropped.some((f) => protocolOf(f) === 58), 'ICMPv6').toBe(true);
      expect(dropped.some((f) => f.protocol === 0x0800 && (((f.data[20]! << 8) | f.data[21]!) & 0x1fff) !== 0), 'non-first IPv4 fragments').toBe(true);
      expect(dropped.some((f) => f.protocol === 0x86dd && f.data[20] === 44 && (((f.data[56]! << 8) | f.data[57]!) & 0xfff8) !== 0), 'non-first IPv6 fragments').toBe(true);
      expect(kept.some((f) => f.protocol === 0x0800 && (f.data[14]! & 0x0f) > 5), 'IPv4 with options kept').toBe(true);
      expect(kept.some((f) => f.protocol === 0x0800 && (f.data[20]! & 0x20) !== 0), 'first IPv4 fragment kept').toBe(true);
      expect(kept.some((f) => f.protocol === 0x86dd && f.data[20] === 44), 'first IPv6 fragment kept').toBe(true);
      expect(kept.some((f) => f.protocol === 0x86dd && f.data[20] === 17), 'IPv6 DNS kept').toBe(true);
      // dig A, AAAA, NXDOMAIN: query and answer each; the options query and its answer; unanswered; two first fragments; the marker.
      expect(kept.length).toBeGreaterThanOrEqual(6 + 2 + 1 + 2 + 1);

      for (const frame of kept) {
        expect(frame.networkOffset).toBe(14);
        expect(frame.length).toBe(frame.data.byteLength);
        const fromClient = ipv4Source(frame) === CLIENT.v4 || ipv6SourceIsClient(frame);
        expect(frame.direction, hexDump(frame.data)).toBe(fromClient ? 'out' : 'in');
        expect(frame.packetType).toBe(fromClient ? 'outgoing' : 'host');
        expect(frame.loopback).toBe(false);
      }
      // Kernel timestamps of this run: not before the test started, not after now.
      const nowNs = BigInt(Date.now()) * 1_000_000n;
      for (const frame of kept) {
        expect(nowNs - frame.timestampNs).toBeLessThan(120_000_000_000n);
        expect(frame.timestampNs - nowNs).toBeLessThan(1_000_000_000n);
      }

      expect(filtered.stats()).toMatchObject({ dropped: 0 });
      expect(unfiltered.stats()).toMatchObject({ dropped: 0 });
    } finally {
      filtered.close();
      unfiltered.close();
    }
  });

  it('a socket filter on a packet socket sees the frame from its Ethernet header, on lo with zero MAC addresses', async () => {
    // The filter reads with ld_abs, whose offsets count from skb->data: it keeps a frame only when
    // bytes 12-13 are the EtherType the kernel recorded (skb->protocol) and, in the lo variant, bytes 0-11 are zero.
    const ethernetAtStart = (zeroMacs: boolean) => {
      const b = new ProgramBuilder({ name: 'eth_at_start', type: 'socket_filter', license: 'GPL' });
      b.mov(r6, r1);
      // ld_abs clobbers r1-r5.
      b.ldx('u32', r7, r6, SkBuff.protocol);
      b.be(r7, 16);
      b.ldAbs('u16', 12);
      b.jne(r0, r7, 'drop');
      if (zeroMacs) {
        for (const offset of [0, 4, 8]) {
          b.ldAbs('u32', offset);
          b.jne(r0, 0, 'drop');
        }
      }
      b.ldx('u32', r0, r6, SkBuff.len);
      b.exit();
      b.label('drop');
      b.ret(0);
      return loadProgram(b.assemble());
    };
    const { client, clientVeth } = network;
    for (const [iface, zeroMacs] of [['lo', true], [clientVeth, false]] as const) {
      const filter = ethernetAtStart(zeroMacs);
      const [filtered, unfiltered] = client.enter(() => [openPacketSocket({ iface, filter }), openPacketSocket({ iface })]);
      filter.close();
      try {
        const target = iface === 'lo' ? '127.0.0.1' : SILENT.v4;
        client.run('ping', ['-c', '2', '-i', '0.2', '-W', '2', target]);
        sendUdp(client, { address: iface === 'lo' ? '127.0.0.1' : CLIENT.v4, port: 0 }, { address: target, port: 53 }, query('marker.test', MARKER_ID));
        const isMarkerFrame = (frame: CapturedFrame) => isUdpWithDnsId(frame, MARKER_ID) && frame.direction === 'out';
        const all = await readUntil(unfiltered, isMarkerFrame);
        const kept = await readUntil(filtered, isMarkerFrame);
        expect(kept.map((f) => hex(f.data)), iface).toEqual(all.map((f) => hex(f.data)));
        expect(all.length).toBeGreaterThanOrEqual(iface === 'lo' ? 9 : 5);
        for (const frame of all) {
          expect(frame.networkOffset).toBe(14);
          expect(frame.loopback).toBe(iface === 'lo');
          const macs = hex(frame.data.subarray(0, 12));
          if (zeroMacs) expect(macs).toBe('0'.repeat(24));
          else expect(macs).not.toBe('0'.repeat(24));
        }
      } finally {
        filtered.close();
        unfiltered.close();
      }
    }
  });

  it('captureDns on lo reports each message once, though the socket sees both copies of every frame', async () => {
    const { client } = network;
    const capture = client.enter(() => captureDns({ iface: 'lo' }));
    const unfiltered = client.enter(() => openPacketSocket({ iface: 'lo' }));
    try {
      sendUdp(client, { address: '127.0.0.1', port: 40001 }, { address: '127.0.0.1', port: 53 }, query('loop.test', 0x1001));
      sendUdp(client, { address: '127.0.0.1', port: 53 }, { address: '127.0.0.1', port: 40001 }, rawDns(0x1001, 0x8183, 1, query('loop.test', 0).subarray(12)));
      const first = await capture.next();
      const second = await capture.next();
      expect(first.value).toMatchObject({ kind: 'query', id: 0x1001, direction: 'in', ipVersion: 4, src: { address: '127.0.0.1', port: 40001 }, dst: { address: '127.0.0.1', port: 53 } });
      expect(first.value?.questions).toEqual([{ name: 'loop.test', type: 'A', class: 'IN' }]);
      expect(second.value).toMatchObject({ kind: 'response', id: 0x1001, rcode: 'NXDOMAIN', direction: 'in', src: { port: 53 }, dst: { port: 40001 } });
      const udpFrames = (await readUntil(unfiltered, (f) => f.data[23] === 17 && f.data[34] === 0 && f.data[35] === 53 && f.direction === 'in')).filter((f) => f.data[23] === 17);
      expect(udpFrames.map((f) => f.direction)).toEqual(['out', 'in', 'out', 'in']);
      expect(capture.stats()).toMatchObject({ loopbackDuplicates: 2, messages: 2, malformed: 0, kernelReceived: 4, kernelDropped: 0 });
    } finally {
      capture.close();
      unfiltered.close();
    }
    expect(await capture.next()).toEqual({ value: undefined, done: true });
  });

  it('pauses reading while the consumer is behind and delivers every frame when it catches up', async () => {
    const { client } = network;
    const filter = loadProgram(buildSocketDnsFilter());
    const socket = client.enter(() => openPacketSocket({ iface: 'lo', filter, receiveBufferBytes: 32 * 1024 * 1024 }));
    filter.close();
    const SENT = 3000;
    try {
      const sender = udpSocket(client, '127.0.0.1', 0);
      for (let i = 0; i < SENT; i++) sender.send(query('burst.test', i), '127.0.0.1', 53);
      sender.close();
      // Each datagram is seen leaving and arriving on lo: two frames each.
      const frames = await readUntil(socket, (f) => f.direction === 'in' && isUdpWithDnsId(f, SENT - 1), 30_000);
      const ids = frames.filter((f) => f.direction === 'in').map((f) => (f.data[42]! << 8) | f.data[43]!);
      expect(ids).toEqual(Array.from({ length: SENT }, (_, i) => i));
      expect(frames).toHaveLength(2 * SENT);
      expect(socket.stats()).toEqual({ received: 2 * SENT, dropped: 0, delivered: 2 * SENT });
    } finally {
      socket.close();
    }
  });

  it('ends pending reads on close, closes every descriptor, and rejects reads once the interface goes down', async () => {
    const { client } = network;
    const before = openFdCount();
    const socket = client.enter(() => openPacketSocket({ iface: 'lo' }));
    const pending = socket.next();
    socket.close();
    socket.close();
    expect(await pending).toEqual({ value: undefined, done: true });
    expect(await readFor(socket, 10)).toEqual([]);
    const capture = client.enter(() => captureDns({ iface: 'lo' }));
    capture.close();
    expect(openFdCount()).toBe(before);

    const veth = `dc${process.pid}d`;
    client.run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`]);
    try {
      client.run('ip', ['link', 'set', veth, 'up']);
      client.run('ip', ['link', 'set', `${veth}p`, 'up']);
      const doomed = client.enter(() => openPacketSocket({ iface: veth }));
      try {
        const read = doomed.next();
        client.run('ip', ['link', 'set', veth, 'down']);
        await expect(read).rejects.toThrow(PacketSocketError);
        await expect(read).rejects.toThrow(/ENETDOWN: the interface went down/);
        await expect(doomed.next()).rejects.toThrow(/ENETDOWN/);
      } finally {
        doomed.close();
      }
    } finally {
      client.attempt('ip', ['link', 'del', veth]);
    }
  });

  it('names the interface or the program when it cannot open', () => {
    const { client } = network;
    expect(() => client.enter(() => openPacketSocket({ iface: 'nosuch0' }))).toThrow(/no network interface named nosuch0/);
    const b = new ProgramBuilder({ name: 'not_a_filter', type: 'xdp', license: 'GPL' });
    b.ret(2);
    const xdp = loadProgram(b.assemble());
    try {
      expect(() => client.enter(() => openPacketSocket({ iface: 'lo', filter: xdp }))).toThrow(/attaching not_a_filter \(SO_ATTACH_BPF\): EINVAL: not_a_filter is not a socket filter program/);
    } finally {
      xdp.close();
    }
    // A socket filter test run of the same frame works: the failure above is the attachment, not the program.
    const filter = loadProgram(buildSocketDnsFilter());
    try {
      expect(filter.testRun(udpFrame()).retval).toBe(0);
    } finally {
      filter.close();
    }
  });
});
