/**
 * UDP checksums as a receiving kernel verifies them. DNS from `dig` on lo
 * carries CHECKSUM_PARTIAL, which the receiver trusts, so a wrong
 * incremental update would go unnoticed there. Frames sent through an
 * AF_PACKET socket arrive with no checksum status (CHECKSUM_NONE): the
 * kernel sums every byte, drops a datagram whose checksum does not verify
 * and counts it in `Udp: InCsumErrors` (a control frame with a bad checksum
 * shows this happens).
 *
 * Frames are built with test/support/packets.ts (full RFC 1071 sums), sent
 * in both directions, and must reach plain UDP sockets with the ports
 * rewritten and the payload intact:
 *
 * - on lo in generic mode (the NetBird setup), injected on lo itself;
 * - on a veth end in native mode, injected on its peer.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithBpf } from '../loader/support.js';
import { ipv4UdpFrame, udpChecksum, udpDatagram } from '../support/packets.js';
import { compileTree, type CompiledTree } from './compiled.js';
import type { Datagram } from './worker-protocol.js';
import { DNS_IP, startScenario, VETH, type Scenario } from './scenario.js';

const CLIENT = { address: '100.64.0.7', port: 40001 };
/** The resolver's port here: the scenario's responders hold 5053 and 5054. */
const LISTEN_PORT = 5070;
/** Where the rewritten replies are delivered. */
const REPLY_TO = { address: DNS_IP, port: 40002 };

/** A deterministic byte source, so that a failure can be reproduced. */
function bytesFrom(seed: number): (length: number) => Uint8Array {
  let state = seed >>> 0;
  return (length) =>
    Uint8Array.from({ length }, () => {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      return state >>> 24;
    });
}

interface Flow {
  readonly src: { address: string; port: number };
  readonly dst: { address: string; port: number };
  /** The destination or source port the program puts in. */
  readonly rewritten: { dst: { address: string; port: number } } | { src: { address: string; port: number } };
}

const QUERY: Flow = { src: CLIENT, dst: { address: DNS_IP, port: 53 }, rewritten: { dst: { address: DNS_IP, port: LISTEN_PORT } } };
const REPLY: Flow = { src: { address: DNS_IP, port: LISTEN_PORT }, dst: REPLY_TO, rewritten: { src: { address: DNS_IP, port: 53 } } };

function checksumOf(flow: Flow, payload: Uint8Array, after: boolean): number {
  const src = after && 'src' in flow.rewritten ? flow.rewritten.src : flow.src;
  const dst = after && 'dst' in flow.rewritten ? flow.rewritten.dst : flow.dst;
  return udpChecksum('ipv4', src.address, dst.address, udpDatagram('ipv4', src.address, dst.address, { srcPort: src.port, dstPort: dst.port, payload, checksum: 0 }));
}

/**
 * Payloads whose checksum sits at the edges: 0xffff (a computed 0) before
 * the rewrite, and 0xffff after it; found by trying two trailing bytes.
 */
function edgePayloads(flow: Flow): Uint8Array[] {
  const found: Uint8Array[] = [];
  for (const after of [false, true]) {
    for (let tail = 0; tail < 0x10000; tail++) {
      const payload = Uint8Array.of(0x42, 0x47, tail >> 8, tail & 0xff);
      if (checksumOf(flow, payload, after) === 0xffff) {
        found.push(payload);
        break;
      }
    }
  }
  expect(found).toHaveLength(2);
  return found;
}

function frameOf(flow: Flow, payload: Uint8Array, dstMac: string, checksum?: number): string {
  return Buffer.from(
    ipv4UdpFrame({
      eth: { dst: dstMac, src: '02:00:00:00:00:07' },
      ip: { src: flow.src.address, dst: flow.dst.address },
      udp: { srcPort: flow.src.port, dstPort: flow.dst.port, payload, ...(checksum === undefined ? {} : { checksum }) },
    }),
  ).toString('hex');
}

describeWithBpf('xdp-dns-forward rewrites keep UDP checksums that a receiving kernel verifies', () => {
  let tree: CompiledTree;
  let scenario: Scenario;

  beforeAll(async () => {
    tree = compileTree();
    scenario = await startScenario('dnsfwd-csum', tree);
    await scenario.worker.request({ op: 'sink', address: DNS_IP, port: LISTEN_PORT });
    await scenario.worker.request({ op: 'sink', address: REPLY_TO.address, port: REPLY_TO.port });
  }, 180_000);

  afterAll(async () => {
    await scenario?.dispose();
    tree?.dispose();
  });

  async function receivedAt(sink: { address: string; port: number }, count: number): Promise<Datagram[]> {
    const deadline = Date.now() + 3000;
    for (;;) {
      const received = await scenario.worker.request<Datagram[]>({ op: 'received', ...sink });
      if (received.length >= count || Date.now() > deadline) return received;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  const placements = [
    { name: 'lo, generic mode', iface: 'lo', mode: 'generic', inject: 'lo', dstMac: () => '00:00:00:00:00:00' },
    {
      name: `veth ${VETH.carrier}, native mode`,
      iface: VETH.carrier,
      mode: 'native',
      inject: VETH.peer,
      dstMac: () => (JSON.parse(scenario.netns.execOk('ip', ['-json', 'link', 'show', VETH.carrier])) as { address: string }[])[0]!.address,
    },
  ] as const;

  let seed = 1;
  for (const placement of placements) {
    for (const config of ['inline', 'map'] as const) {
      it(`${placement.name}, ${config} config: 40 queries and 40 replies arrive rewritten; bad checksums are dropped and counted`, async () => {
        const before = scenario.netns.snmp('Udp');
        const already = {
          query: (await receivedAt({ address: DNS_IP, port: LISTEN_PORT }, 0)).length,
          reply: (await receivedAt(REPLY_TO, 0)).length,
        };
        await scenario.worker.request({ op: 'attach', options: { iface: placement.iface, mode: placement.mode, config, dnsIp: DNS_IP, listenPort: LISTEN_PORT } });
        try {
          const random = bytesFrom(seed++);
          const mac = placement.dstMac();
          for (const [flow, sink, direction] of [
            [QUERY, { address: DNS_IP, port: LISTEN_PORT }, 'query'],
            [REPLY, REPLY_TO, 'reply'],
          ] as const) {
            const payloads = [...edgePayloads(flow), ...Array.from({ length: 37 }, (_, i) => random(1 + ((i * 37) % 200)))];
            const noChecksum = random(12);
            const frames = [...payloads.map((payload) => frameOf(flow, payload, mac)), frameOf(flow, noChecksum, mac, 0)];
            const good = checksumOf(flow, Uint8Array.of(1, 2, 3), false);
            const control = frameOf(flow, Uint8Array.of(1, 2, 3), mac, good ^ 0x0100);
            await scenario.worker.request({ op: 'sendFrames', iface: placement.inject, frames: [...frames, control] });

            const expected = [...payloads, noChecksum].map((payload) => ({
              payload: Buffer.from(payload).toString('hex'),
              from: 'dst' in flow.rewritten ? flow.src : flow.rewritten.src,
            }));
            const received = (await receivedAt(sink, already[direction] + expected.length)).slice(already[direction]);
            expect(received, `${direction}s delivered to ${sink.address}:${sink.port}`).toEqual(expected);
          }
          const after = scenario.netns.snmp('Udp');
          // Exactly the two controls failed verification: every rewritten checksum was right.
          expect(after.InCsumErrors! - before.InCsumErrors!).toBe(2);
        } finally {
          await scenario.worker.request({ op: 'close' });
        }
        expect(scenario.xdpOf(placement.iface)).toBe('');
      });
    }
  }
});
