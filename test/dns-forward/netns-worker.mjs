// A helper process for the dns-forward tests, run inside a test's network
// namespace and driven over Node's IPC channel, because XDP attachments
// belong to the namespace of the process that makes them, and so do
// sockets. Usage: node netns-worker.mjs DIST_DIR (bpfgen compiled once per
// test run, test/support/compiled.ts). Plain JavaScript, so that no test
// compiles anything of its own (tsc takes minutes in the kernel matrix).
//
// Each message { id, op, ...arguments } (worker-protocol.ts) gets one reply
// { id, ok, value } or { id, ok: false, error: { name, message } }.
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = process.argv[2];
const load = (path) => import(pathToFileURL(join(dist, path)).href);
const { DnsResponder } = await load('cli/dns-responder.js');
const { attachDnsForward } = await load('loader/dns-forward.js');
const { interfaceIndex } = await load('loader/link.js');
const { native } = await load('loader/native.js');
const { loadProgram } = await load('loader/program.js');
const { attachXdpNetlink, detachXdpNetlink, queryXdp } = await load('loader/xdp-netlink.js');
const { ProgramBuilder } = await load('asm/dsl/index.js');

// linux/if_ether.h, linux/socket.h, linux/if_packet.h.
const AF_PACKET = 17;
const SOCK_RAW = 3;
const ETH_P_IP = 0x0800;
const SOCKADDR_LL_SIZE = 20;

const responders = [];
const sinks = new Map();
let forward;
let foreign;

/** A plain UDP socket that records what the kernel delivers to it (only datagrams whose checksum verified). */
async function openSink(address, port) {
  const socket = createSocket('udp4');
  const received = [];
  socket.on('message', (payload, peer) => received.push({ payload: payload.toString('hex'), from: { address: peer.address, port: peer.port } }));
  await new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => resolve());
  });
  sinks.set(`${address}:${port}`, { socket, received });
}

/** Send whole Ethernet frames out of `iface` through an AF_PACKET socket: the stack sees them arrive with no checksum status. */
function sendFrames(iface, frames) {
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
function attachForeign(iface) {
  const b = new ProgramBuilder({ name: 'not_bpfgen', type: 'xdp', license: 'GPL' });
  b.ret(2);
  const program = loadProgram(b.assemble());
  const ifindex = interfaceIndex(iface);
  attachXdpNetlink(program, ifindex, { mode: 'skb' });
  foreign = { program, ifindex };
  return program.id;
}

/** Detach the foreign program if it is still attached (a test may have replaced it), and close it. */
function detachForeign() {
  if (!foreign) return;
  const { program, ifindex } = foreign;
  foreign = undefined;
  try {
    if (queryXdp(ifindex).programIds.skb === program.id) detachXdpNetlink(ifindex, { mode: 'skb', expectedProgramId: program.id });
  } finally {
    program.close();
  }
}

async function swaps(count, intervalMs) {
  const ids = [];
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    await forward.update({});
    ids.push(forward.info.programId);
  }
  return ids;
}

async function attachTimes(options, rounds) {
  const times = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    const attached = await attachDnsForward(options);
    times.push(performance.now() - start);
    await attached.close();
  }
  return times;
}

async function handle(request) {
  switch (request.op) {
    case 'responder':
      responders.push(await DnsResponder.start(request));
      return null;
    case 'sink':
      await openSink(request.address, request.port);
      return null;
    case 'received':
      return sinks.get(`${request.address}:${request.port}`)?.received ?? [];
    case 'attach':
      forward = await attachDnsForward(request.options);
      return { info: forward.info, lines: forward.describe() };
    case 'update':
      await forward.update(request.changes);
      return forward.info;
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
    default:
      throw new Error(`netns-worker: unknown op '${request.op}'`);
  }
}

async function shutdown() {
  await forward?.close().catch(() => undefined);
  detachForeign();
  for (const responder of responders) await responder.close();
  for (const { socket } of sinks.values()) socket.close();
  process.disconnect?.();
}

process.on('message', (message) => {
  handle(message).then(
    (value) => process.send({ id: message.id, ok: true, value: value ?? null }),
    (error) => process.send({ id: message.id, ok: false, error: { name: error?.name ?? 'Error', message: error?.message ?? String(error) } }),
  );
});
process.on('SIGTERM', () => void shutdown());
process.on('disconnect', () => void shutdown());
process.send({ id: 0, ok: true, value: 'ready' });
