/**
 * A raw packet socket (AF_PACKET, SOCK_RAW, every protocol) on one
 * interface or on all, optionally with a socket filter attached
 * (SO_ATTACH_BPF), read as an async iterator of frames.
 *
 * Reading never blocks the event loop and never polls: the socket is
 * non-blocking, libuv watches it (the shim's FdWatcher), and each wake-up
 * drains what the kernel has queued. When the consumer falls behind, the
 * watch pauses, so the kernel's receive buffer fills and the kernel counts
 * the drops (stats()) instead of memory growing here.
 *
 * The filter is in place before the socket receives anything: the socket
 * is created for protocol 0, which matches no packet, and only bind()
 * asks for every protocol, after SO_ATTACH_BPF.
 */
import { NATIVE_LITTLE_ENDIAN } from './attr.js';
import { errnoName, isSyscallError } from './errno.js';
import { interfaceIndex } from './link.js';
import { native } from './native.js';
import type { Program } from './program.js';
import { OwnedFd } from './syscall.js';

// linux/socket.h, asm-generic/socket.h, linux/if_packet.h, linux/if_ether.h, linux/if_arp.h.
const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const ETH_P_ALL = 0x0003;
const SOL_SOCKET = 1;
const SO_RCVBUF = 8;
const SO_RCVBUFFORCE = 33;
const SO_ATTACH_BPF = 50;
const SO_TIMESTAMPNS_NEW = 64;
const SCM_TIMESTAMPNS_NEW = SO_TIMESTAMPNS_NEW;
const SOL_PACKET = 263;
const PACKET_STATISTICS = 6;
const PACKET_AUXDATA = 8;
const MSG_TRUNC = 0x20;
const ARPHRD_LOOPBACK = 772;

/** struct sockaddr_ll: family, protocol (network order), ifindex, hatype, pkttype, halen, addr[8]. */
const SOCKADDR_LL = { size: 20, family: 0, protocol: 2, ifindex: 4, hatype: 8, pkttype: 10 } as const;
/** struct tpacket_auxdata: the frame's length before truncation and where its network header starts. */
const AUXDATA = { len: 4, net: 14 } as const;
/** struct cmsghdr on 64-bit Linux: size_t length, int level, int type, then data aligned to 8. */
const CMSG = { header: 16, length: 0, level: 8, type: 12, align: 8 } as const;
/** Room for the timestamp and auxdata messages. */
const CONTROL_BYTES = 128;

/** sll_pkttype: who the frame was for, as the kernel classified it. */
const PACKET_TYPES = ['host', 'broadcast', 'multicast', 'otherhost', 'outgoing', 'loopback', 'user', 'kernel'] as const;
export type PacketType = (typeof PACKET_TYPES)[number];

/** Bytes read of each frame, as tcpdump's default snap length: more than any DNS message. */
const DEFAULT_SNAP_LENGTH = 262_144;
const DEFAULT_RECEIVE_BUFFER = 4 * 1024 * 1024;
/** Frames read per wake-up before yielding to the event loop (the watch is level-triggered: it fires again). */
const READ_BUDGET = 64;
/** Frames waiting for the consumer at which reading pauses, and at which it resumes. */
const QUEUE_PAUSE = 1024;
const QUEUE_RESUME = 256;

export interface CapturedFrame {
  /** The frame from its link-layer header (Ethernet on lo and veth), at most the snap length. */
  readonly data: Uint8Array;
  /** The frame's full length; more than data.byteLength when it was cut to the snap length. */
  readonly length: number;
  /** Where the network header starts in `data`. */
  readonly networkOffset: number;
  /** The link-layer protocol (EtherType), e.g. 0x0800 for IPv4. */
  readonly protocol: number;
  readonly ifindex: number;
  readonly packetType: PacketType;
  /** 'out' for frames this host sent, 'in' for everything it received. */
  readonly direction: 'in' | 'out';
  /** Seen on a loopback device, where every frame is captured twice: outgoing, then incoming. */
  readonly loopback: boolean;
  /** When the kernel received or sent the frame, nanoseconds since the Unix epoch. */
  readonly timestampNs: bigint;
}

export interface PacketSocketOptions {
  /** Interface name or index; all interfaces when absent. */
  readonly iface?: string | number;
  /** A socket filter program: the socket receives only frames for which it returns non-zero, cut to that length. */
  readonly filter?: Program;
  /** Bytes read of each frame. */
  readonly snapLength?: number;
  /** Socket receive buffer in bytes (SO_RCVBUFFORCE, else SO_RCVBUF). */
  readonly receiveBufferBytes?: number;
}

export interface PacketSocketStats {
  /** Frames the kernel queued for this socket (that passed the filter), dropped ones included. */
  readonly received: number;
  /** Frames the kernel dropped because the receive buffer was full. */
  readonly dropped: number;
  /** Frames handed to the consumer. */
  readonly delivered: number;
}

/** A packet socket operation failed; the message names the operation, the interface and the errno. */
export class PacketSocketError extends Error {
  constructor(
    readonly operation: string,
    readonly code: string,
    detail: string,
  ) {
    super(`${operation}: ${code}: ${detail}`);
    this.name = 'PacketSocketError';
  }
}

const ERRNO_DETAIL: Readonly<Record<string, string>> = {
  EPERM: 'packet sockets need CAP_NET_RAW (run as root)',
  EACCES: 'packet sockets need CAP_NET_RAW (run as root)',
  ENODEV: 'no such network interface',
  ENETDOWN: 'the interface went down',
  ENXIO: 'the interface went away',
  EINVAL: 'the kernel rejected the request',
};

function failure(operation: string, error: unknown, hints: Readonly<Record<string, string>> = {}): Error {
  if (!isSyscallError(error)) return error instanceof Error ? error : new Error(String(error));
  const code = errnoName(error.errno);
  return new PacketSocketError(operation, code, hints[code] ?? ERRNO_DETAIL[code] ?? error.message);
}

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, NATIVE_LITTLE_ENDIAN);
  return bytes;
}

function sockaddrLl(ifindex: number): Uint8Array {
  const bytes = new Uint8Array(SOCKADDR_LL.size);
  const view = new DataView(bytes.buffer);
  view.setUint16(SOCKADDR_LL.family, AF_PACKET, NATIVE_LITTLE_ENDIAN);
  view.setUint16(SOCKADDR_LL.protocol, ETH_P_ALL, false);
  view.setInt32(SOCKADDR_LL.ifindex, ifindex, NATIVE_LITTLE_ENDIAN);
  return bytes;
}

/** The timestamp and auxdata control messages of one received frame. */
function readControl(control: Uint8Array, length: number): { timestampNs?: bigint; originalLength?: number; networkOffset?: number } {
  const view = new DataView(control.buffer, control.byteOffset, length);
  const found: { timestampNs?: bigint; originalLength?: number; networkOffset?: number } = {};
  for (let at = 0; at + CMSG.header <= length; ) {
    const messageLength = Number(view.getBigUint64(at + CMSG.length, NATIVE_LITTLE_ENDIAN));
    if (messageLength < CMSG.header || at + messageLength > length) break;
    const level = view.getInt32(at + CMSG.level, NATIVE_LITTLE_ENDIAN);
    const type = view.getInt32(at + CMSG.type, NATIVE_LITTLE_ENDIAN);
    const data = at + CMSG.header;
    if (level === SOL_SOCKET && type === SCM_TIMESTAMPNS_NEW) {
      const seconds = view.getBigInt64(data, NATIVE_LITTLE_ENDIAN);
      const nanoseconds = view.getBigInt64(data + 8, NATIVE_LITTLE_ENDIAN);
      found.timestampNs = seconds * 1_000_000_000n + nanoseconds;
    } else if (level === SOL_PACKET && type === PACKET_AUXDATA) {
      found.originalLength = view.getUint32(data + AUXDATA.len, NATIVE_LITTLE_ENDIAN);
      found.networkOffset = view.getUint16(data + AUXDATA.net, NATIVE_LITTLE_ENDIAN);
    }
    at += Math.ceil(messageLength / CMSG.align) * CMSG.align;
  }
  return found;
}

type Waiter = { resolve(result: IteratorResult<CapturedFrame>): void; reject(error: Error): void };

export class PacketSocket implements AsyncIterable<CapturedFrame> {
  readonly #fd: OwnedFd;
  /** Where the socket listens, for messages: `lo`, `ifindex 3`, `all interfaces`. */
  readonly #where: string;
  readonly #buffer: Uint8Array;
  readonly #address = new Uint8Array(SOCKADDR_LL.size);
  readonly #control = new Uint8Array(CONTROL_BYTES);
  readonly #queue: CapturedFrame[] = [];
  readonly #waiters: Waiter[] = [];
  #watcher: { stop(): void } | undefined;
  #error: Error | undefined;
  #received = 0;
  #dropped = 0;
  #delivered = 0;

  /** Open with `openPacketSocket`. */
  private constructor(fd: OwnedFd, where: string, snapLength: number) {
    this.#fd = fd;
    this.#where = where;
    this.#buffer = new Uint8Array(snapLength);
  }

  /** See openPacketSocket. */
  static open(options: PacketSocketOptions): PacketSocket {
    const shim = native();
    const ifindex = options.iface === undefined ? 0 : typeof options.iface === 'number' ? options.iface : interfaceIndex(options.iface);
    const where = options.iface === undefined ? 'all interfaces' : typeof options.iface === 'string' ? options.iface : `ifindex ${options.iface}`;
    const snapLength = options.snapLength ?? DEFAULT_SNAP_LENGTH;
    if (!Number.isInteger(snapLength) || snapLength < 64) throw new RangeError(`snapLength ${snapLength} must be an integer of at least 64 bytes`);
    let fd: OwnedFd;
    try {
      fd = new OwnedFd(shim.socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), `packet socket on ${where}`);
    } catch (error) {
      throw failure(`cannot open a packet socket on ${where}`, error);
    }
    const socket = new PacketSocket(fd, where, snapLength);
    try {
      socket.#configure(ifindex, options);
      socket.#watch();
    } catch (error) {
      socket.close();
      throw error;
    }
    return socket;
  }

  #configure(ifindex: number, options: PacketSocketOptions): void {
    const shim = native();
    const fd = this.#fd.value;
    const set = (level: number, name: number, value: Uint8Array, operation: string, hints?: Readonly<Record<string, string>>) => {
      try {
        shim.setsockopt(fd, level, name, value);
      } catch (error) {
        throw failure(`packet socket on ${this.#where}: ${operation}`, error, hints);
      }
    };
    if (options.filter) {
      set(SOL_SOCKET, SO_ATTACH_BPF, u32(options.filter.fd), `attaching ${options.filter.name} (SO_ATTACH_BPF)`, {
        EINVAL: `${options.filter.name} is not a socket filter program`,
      });
    }
    set(SOL_PACKET, PACKET_AUXDATA, u32(1), 'PACKET_AUXDATA');
    set(SOL_SOCKET, SO_TIMESTAMPNS_NEW, u32(1), 'SO_TIMESTAMPNS_NEW', { ENOPROTOOPT: 'kernel timestamps need Linux 5.1 or newer' });
    const bufferBytes = options.receiveBufferBytes ?? DEFAULT_RECEIVE_BUFFER;
    try {
      shim.setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, u32(bufferBytes));
    } catch {
      // Without CAP_NET_ADMIN the buffer can only grow up to net.core.rmem_max.
      set(SOL_SOCKET, SO_RCVBUF, u32(bufferBytes), 'SO_RCVBUF');
    }
    try {
      shim.bind(fd, sockaddrLl(ifindex));
    } catch (error) {
      throw failure(`cannot bind a packet socket to ${this.#where}`, error);
    }
  }

  #watch(): void {
    if (this.#watcher || this.#fd.closed) return;
    const Watcher = native().FdWatcher;
    this.#watcher = new Watcher(this.#fd.value, (status) => this.#onReadable(status));
  }

  #pause(): void {
    this.#watcher?.stop();
    this.#watcher = undefined;
  }

  #onReadable(status: number): void {
    if (status < 0) {
      // libuv stops watching on POLLERR; the socket's own error (ENETDOWN when the interface goes down) comes with a read.
      for (let i = 0, frame = this.#readOne(); frame && i < QUEUE_PAUSE; i++, frame = this.#readOne()) this.#deliver(frame);
      this.#fail(new PacketSocketError(`reading the packet socket on ${this.#where}`, errnoName(-status), 'the event loop reported an error on the descriptor'));
      return;
    }
    for (let i = 0; i < READ_BUDGET && this.#queue.length < QUEUE_PAUSE && !this.#fd.closed; i++) {
      const frame = this.#readOne();
      if (!frame) break;
      this.#deliver(frame);
    }
    if (this.#queue.length >= QUEUE_PAUSE) this.#pause();
  }

  /** The next queued frame, or undefined when the kernel has none (EAGAIN) or reading failed. */
  #readOne(): CapturedFrame | undefined {
    let received;
    try {
      received = native().recvmsg(this.#fd.value, this.#buffer, MSG_TRUNC, this.#address, this.#control);
    } catch (error) {
      if (isSyscallError(error) && (error.code === 'EAGAIN' || error.code === 'EWOULDBLOCK')) return undefined;
      this.#fail(failure(`reading the packet socket on ${this.#where}`, error));
      return undefined;
    }
    const address = new DataView(this.#address.buffer);
    const packetType = PACKET_TYPES[this.#address[SOCKADDR_LL.pkttype]!] ?? 'host';
    // The kernel sends the timestamp and auxdata with every frame; the fallbacks below only cover a control buffer cut short.
    const control = readControl(this.#control, received.controlBytes);
    return {
      data: this.#buffer.slice(0, Math.min(received.bytes, this.#buffer.byteLength)),
      length: control.originalLength ?? received.bytes,
      networkOffset: control.networkOffset ?? 0,
      protocol: address.getUint16(SOCKADDR_LL.protocol, false),
      ifindex: address.getInt32(SOCKADDR_LL.ifindex, NATIVE_LITTLE_ENDIAN),
      packetType,
      direction: packetType === 'outgoing' ? 'out' : 'in',
      loopback: address.getUint16(SOCKADDR_LL.hatype, NATIVE_LITTLE_ENDIAN) === ARPHRD_LOOPBACK,
      timestampNs: control.timestampNs ?? BigInt(Date.now()) * 1_000_000n,
    };
  }

  #deliver(frame: CapturedFrame): void {
    const waiter = this.#waiters.shift();
    if (waiter) {
      this.#delivered++;
      waiter.resolve({ value: frame, done: false });
    } else {
      this.#queue.push(frame);
    }
  }

  #fail(error: Error): void {
    this.#error ??= error;
    this.#pause();
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }

  /** The next frame; done after close(); rejects once reading has failed (the interface went down, say). */
  next(): Promise<IteratorResult<CapturedFrame>> {
    const frame = this.#queue.shift();
    if (frame) {
      this.#delivered++;
      if (!this.#watcher && !this.#error && this.#queue.length <= QUEUE_RESUME) this.#watch();
      return Promise.resolve({ value: frame, done: false });
    }
    if (this.#error) return Promise.reject(this.#error);
    if (this.#fd.closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  [Symbol.asyncIterator](): AsyncIterator<CapturedFrame> {
    return {
      next: () => this.next(),
      // Leaving a for-await loop early closes the socket.
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** Counters since the socket was opened; the kernel's are read (and reset there) on each call. */
  stats(): PacketSocketStats {
    if (!this.#fd.closed) {
      const counters = new Uint8Array(8);
      try {
        native().getsockopt(this.#fd.value, SOL_PACKET, PACKET_STATISTICS, counters);
      } catch (error) {
        throw failure(`packet socket on ${this.#where}: PACKET_STATISTICS`, error);
      }
      const view = new DataView(counters.buffer);
      this.#received += view.getUint32(0, NATIVE_LITTLE_ENDIAN);
      this.#dropped += view.getUint32(4, NATIVE_LITTLE_ENDIAN);
    }
    return { received: this.#received, dropped: this.#dropped, delivered: this.#delivered };
  }

  get closed(): boolean {
    return this.#fd.closed;
  }

  /** Stop reading and close the socket; frames still queued are discarded and pending next() calls end. */
  close(): void {
    if (this.#fd.closed) return;
    try {
      // The kernel's counters die with the socket: read them last.
      this.stats();
    } finally {
      // The watch must end before the descriptor does: libuv may not watch a closed fd.
      this.#pause();
      this.#fd.close();
      this.#queue.length = 0;
      for (const waiter of this.#waiters.splice(0)) waiter.resolve({ value: undefined, done: true });
    }
  }
}

/** Open a packet socket; see PacketSocket. Throws PacketSocketError naming the step and the interface. */
export function openPacketSocket(options: PacketSocketOptions = {}): PacketSocket {
  return PacketSocket.open(options);
}
