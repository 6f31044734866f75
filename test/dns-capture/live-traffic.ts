/**
 * Two namespaces joined by a veth pair, a real dnsmasq in the server one,
 * and the traffic the capture tests send: DNS that the filter must keep,
 * and everything around it that it must drop.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { native } from '../../src/loader/native.js';
import { createNetns, sendUdp, startDnsmasq, udpSocket, type Dnsmasq, type Netns } from './netns.js';

export const CLIENT = { v4: '192.0.2.1', v6: '2001:db8::1' } as const;
/** dnsmasq listens on these. */
export const SERVER = { v4: '192.0.2.53', v6: '2001:db8::53' } as const;
/** Assigned to the server, with nothing listening: queries there go unanswered (the kernel answers with ICMP). */
export const SILENT = { v4: '192.0.2.54', v6: '2001:db8::54' } as const;

/** What dnsmasq knows; `nope.test` and anything else under .test is NXDOMAIN. */
export const ZONE = { a: 'example.test', aAddress: '192.0.2.80', six: 'six.test', sixV4: '192.0.2.81', sixV6: '2001:db8::81', txt: 'txt.test', txtValue: 'hello world' } as const;

export interface Network {
  readonly client: Netns;
  readonly server: Netns;
  /** The client's end of the veth pair. */
  readonly clientVeth: string;
  readonly dnsmasq: Dnsmasq;
  dispose(): Promise<void>;
}

export async function startNetwork(): Promise<Network> {
  const dir = mkdtempSync(join(tmpdir(), `bpfgen-dnscap-${process.pid}-`));
  const client = createNetns('client');
  let server: Netns | undefined;
  let dnsmasq: Dnsmasq | undefined;
  try {
    server = createNetns('server');
    const clientVeth = `dc${process.pid}c`;
    const serverVeth = `dc${process.pid}s`;
    client.run('ip', ['link', 'add', clientVeth, 'type', 'veth', 'peer', 'name', serverVeth, 'netns', server.name]);
    for (const [ns, veth, addresses] of [
      [client, clientVeth, [CLIENT.v4, CLIENT.v6]],
      [server, serverVeth, [SERVER.v4, SILENT.v4, SERVER.v6, SILENT.v6]],
    ] as const) {
      for (const address of addresses) {
        ns.run('ip', ['addr', 'add', `${address}/${address.includes(':') ? 64 : 24}`, 'dev', veth, ...(address.includes(':') ? ['nodad'] : [])]);
      }
      ns.run('ip', ['link', 'set', veth, 'up']);
    }
    dnsmasq = await startDnsmasq(
      server,
      join(dir, 'dnsmasq.pid'),
      [
        `--listen-address=${SERVER.v4}`,
        `--listen-address=${SERVER.v6}`,
        '--port=53',
        '--local=/test/',
        `--address=/${ZONE.a}/${ZONE.aAddress}`,
        `--host-record=${ZONE.six},${ZONE.sixV4},${ZONE.sixV6}`,
        `--txt-record=${ZONE.txt},${ZONE.txtValue}`,
      ],
      { server: SERVER.v4, name: ZONE.a },
    );
    const started = dnsmasq;
    const serverNs = server;
    return {
      client,
      server,
      clientVeth,
      dnsmasq,
      async dispose() {
        await started.stop();
        serverNs.dispose();
        client.dispose();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await dnsmasq?.stop();
    server?.dispose();
    client.dispose();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

export function dig(netns: Netns, args: readonly string[]): string {
  return netns.run('dig', ['+tries=1', '+time=2', ...args]);
}

/** A DNS query with one question, as bytes. */
export function query(name: string, id: number, type: 'A' | 'AAAA' | 'TXT' = 'A'): Uint8Array {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });
}

/** A DNS header with this QDCOUNT and `body` after it. */
export function rawDns(id: number, flags: number, qdcount: number, body: Uint8Array = new Uint8Array(0)): Uint8Array {
  const bytes = new Uint8Array(12 + body.byteLength);
  bytes.set([id >> 8, id & 0xff, flags >> 8, flags & 0xff, qdcount >> 8, qdcount & 0xff], 0);
  bytes.set(body, 12);
  return bytes;
}

/** A query-shaped datagram of `bytes` bytes: one question, then padding, large enough to be fragmented. */
export function bigQuery(name: string, id: number, bytes: number): Uint8Array {
  const head = query(name, id);
  const padded = new Uint8Array(bytes);
  padded.set(head);
  return padded;
}

const IPPROTO_IP = 0;
const IP_OPTIONS = 4;

/** Send a datagram whose IPv4 header carries `options` (IP_OPTIONS), so that its IHL is above 5. */
export function sendWithIpOptions(netns: Netns, to: { address: string; port: number }, payload: Uint8Array, options: Uint8Array): void {
  const socket = udpSocket(netns, CLIENT.v4, 0);
  try {
    native().setsockopt(socket.fd, IPPROTO_IP, IP_OPTIONS, options);
    socket.send(payload, to.address, to.port);
  } finally {
    socket.close();
  }
}

/**
 * The traffic of the comparison test, from the client: DNS answered by
 * dnsmasq over IPv4 and IPv6 (including NXDOMAIN and a query with IP
 * options), DNS over TCP, ping, UDP to other ports, DNS headers with
 * QDCOUNT 0 and 2, an unanswered query (ICMP comes back quoting it), and
 * datagrams large enough to be fragmented over IPv4 and IPv6.
 */
export function sendMixedTraffic(network: Network): void {
  const { client } = network;
  dig(client, [`@${SERVER.v4}`, ZONE.a, 'A']);
  dig(client, [`@${SERVER.v6}`, ZONE.six, 'AAAA']);
  dig(client, [`@${SERVER.v4}`, 'nope.test', 'A']);
  dig(client, ['+tcp', `@${SERVER.v4}`, ZONE.a, 'A']);
  client.run('ping', ['-c', '2', '-i', '0.2', '-W', '2', SERVER.v4]);
  client.run('ping', ['-6', '-c', '1', '-W', '2', SERVER.v6]);
  sendWithIpOptions(client, { address: SERVER.v4, port: 53 }, query(ZONE.a, 0x0a01), Uint8Array.of(1, 1, 1, 0));
  sendUdp(client, { address: CLIENT.v4, port: 0 }, { address: SERVER.v4, port: 9999 }, query(ZONE.a, 0x0a02));
  sendUdp(client, { address: CLIENT.v6, port: 0 }, { address: SERVER.v6, port: 5353 }, query(ZONE.a, 0x0a03));
  sendUdp(client, { address: CLIENT.v4, port: 0 }, { address: SERVER.v4, port: 53 }, rawDns(0x0a04, 0x0100, 0));
  sendUdp(client, { address: CLIENT.v4, port: 0 }, { address: SERVER.v4, port: 53 }, rawDns(0x0a05, 0x0100, 2, new Uint8Array(40)));
  sendUdp(client, { address: CLIENT.v4, port: 0 }, { address: SILENT.v4, port: 53 }, query('unanswered.test', 0x0a06));
  sendUdp(client, { address: CLIENT.v4, port: 0 }, { address: SILENT.v4, port: 53 }, bigQuery('big.test', 0x0a07, 3000));
  sendUdp(client, { address: CLIENT.v6, port: 0 }, { address: SILENT.v6, port: 53 }, bigQuery('big.test', 0x0a08, 3000));
}
