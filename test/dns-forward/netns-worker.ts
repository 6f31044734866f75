/**
 * A helper process for the dns-forward tests, run inside a test's network
 * namespace (`ip netns exec NS node netns-worker.js`, compiled by
 * compiled.ts) and driven over Node's IPC channel: XDP attachments belong to
 * the namespace of the process that makes them, and so do sockets.
 *
 * Each message { id, op, ...arguments } gets one reply { id, ok, value } or
 * { id, ok: false, error: { name, message } }.
 */
import { createSocket, type Socket } from 'node:dgram';
import { DnsResponder } from '../../src/cli/dns-responder.js';
import { attachDnsForward, type DnsForward, type DnsForwardOptions, type DnsForwardSettings } from '../../src/loader/dns-forward.js';
import { interfaceIndex } from '../../src/loader/link.js';
import { native } from '../../src/loader/native.js';
import { loadProgram, type Program } from '../../src/loader/program.js';
import { attachXdpNetlink, detachXdpNetlink, queryXdp } from '../../src/loader/xdp-netlink.js';
import { ProgramBuilder } from '../../src/asm/dsl/index.js';

export type WorkerRequest =
  | { op: 'responder'; address: string; port: number; answers: Record<string, string> }
  | { op: 'sink'; address: string; port: number }
  | { op: 'received'; address: string; port: number }
  | { op: 'attach'; options: DnsForwardOptions }
  | { op: 'update'; changes: Partial<DnsForwardSettings> }
  | { op: 'swaps'; count: number; intervalMs: number }
  | { op: 'close' }
  | { op: 'release' }
  | { op: 'attachTimes'; options: DnsForwardOptions; rounds: number }
  | { op: 'sendFrames'; iface: string; frames: string[] }
  | { op: 'attachForeign'; iface: string }
  | { op: 'detachForeign' };

export interface Datagram {
  readonly payload: string;
  readonly from: { readonly address: string; readonly port: number };
}

export interface AttachReply {
  readonly info: DnsForward['info'];
  readonly lines: readonly string[];
}

// linux/if_ether.h, linux/socket.h, linux/if_packet.h.
const AF_PACKET = 17;
const SOCK_RAW = 3;
const ETH_P_IP = 0x0800;
const SOCKADDR_LL_SIZE = 20;

const responders: DnsResponder[] = [];
const sinks = new Map<string, { socket: Socket; received: Datagram[] }>();
let forward: DnsForward | undefined;
let foreign: { program: Program; ifindex: number } | undefined;

/** A plain UDP socket that records what the kernel delivers to it (only datagrams whose checksum verified). */
async function openSink(address: string, port: number): Promise<void> {
  const socket = createSocket('udp4');
  const received: Datagram[] = [];
  socket.on('message', (payload, peer) => received.push({ payload: payload.toString('hex'), from: { address: peer.address, port: peer.port } }));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => resolve());
  });
  sinks.set(`${address}:${port}`, { socket, received });
}

/** Send whole Ethernet frames out of `iface` through an AF_PACKET socket: the stack sees them arrive with no checksum status. */
function sendFrames(iface: string, frames: readonly string[]): number {
  const shim = native();
  const fd = shim.socket(AF_PACKET, SOCK_RAW, 0);
  try {
    const address = new Uint8Array(SOCKADDR_LL_SIZE);
    const view = new DataView(address.buffer);
    view.setUint16(0, AF_PACKET, true);
    view.setUint16(2, ETH_P_IP, false);
    view.setInt32(4, interfaceIndex(iface), true);
    for (const frame of frames) shim.sendto(fd, Buffer.from(frame, 'hex'), 0, address);
  } finally {
    shim.close(fd);
  }
  return frames.length;
}

/** An XDP program bpfgen does not know, attached through netlink: what `bpfgen detach --iface` must leave alone. */
function attachForeign(iface: string): number {
  const b = new ProgramBuilder({ name: 'not_bpfgen', type: 'xdp', license: 'GPL' });
  b.ret(2);
  const program = loadProgram(b.assemble());
  const ifindex = interfaceIndex(iface);
  attachXdpNetlink(program, ifindex, { mode: 'skb' });
  foreign = { program, ifindex };
  return program.id;
}

/** Detach the foreign program if it is still attached (a test may have replaced it), and close it. */
function detachForeign(): void {
  if (!foreign) return;
  const { program, ifindex } = foreign;
  foreign = undefined;
  try {
    if (queryXdp(ifindex).programIds.skb === program.id) detachXdpNetlink(ifindex, { mode: 'skb', expectedProgramId: program.id });
  } finally {
    program.close();
  }
}

async function swaps(count: number, intervalMs: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    await forward!.update({});
    ids.push(forward!.info.programId);
  }
  return ids;
}

async function attachTimes(options: DnsForwardOptions, rounds: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    const attached = await attachDnsForward(options);
    times.push(performance.now() - start);
    await attached.close();
  }
  return times;
}

async function handle(request: WorkerRequest): Promise<unknown> {
  switch (request.op) {
    case 'responder':
      responders.push(await DnsResponder.start(request));
      return null;
    case 'sink':
      await openSink(request.address, request.port);
      return null;
    case 'received':
      return sinks.get(`${request.address}:${request.port}`)?.received ?? [];
    case 'attach': {
      forward = await attachDnsForward(request.options);
      return { info: forward.info, lines: forward.describe() } satisfies AttachReply;
    }
    case 'update':
      await forward!.update(request.changes);
      return forward!.info;
    case 'swaps':
      return swaps(request.count, request.intervalMs);
    case 'close':
      await forward?.close();
      forward = undefined;
      return null;
    case 'release':
      forward?.release();
      forward = undefined;
      return null;
    case 'attachTimes':
      return attachTimes(request.options, request.rounds);
    case 'sendFrames':
      return sendFrames(request.iface, request.frames);
    case 'attachForeign':
      return attachForeign(request.iface);
    case 'detachForeign':
      detachForeign();
      return null;
  }
}

async function shutdown(): Promise<void> {
  await forward?.close().catch(() => undefined);
  detachForeign();
  for (const responder of responders) await responder.close();
  for (const { socket } of sinks.values()) socket.close();
  process.disconnect?.();
}

process.on('message', (message: { id: number } & WorkerRequest) => {
  handle(message).then(
    (value) => process.send!({ id: message.id, ok: true, value: value ?? null }),
    (error: unknown) => process.send!({ id: message.id, ok: false, error: { name: (error as Error).name, message: (error as Error).message ?? String(error) } }),
  );
});
process.on('SIGTERM', () => void shutdown());
process.on('disconnect', () => void shutdown());
process.send!({ id: 0, ok: true, value: 'ready' });
