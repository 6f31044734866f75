/**
 * A NETLINK_ROUTE socket over the shim: one request at a time, each with a
 * fresh sequence number, answered either by an acknowledgement (NLMSG_ERROR
 * with error 0) or, for dumps, by a run of multipart messages ending in
 * NLMSG_DONE. A failure comes back as a NetlinkError naming the operation,
 * the errno, what it means there, and the kernel's own words (extended ack).
 */
import { Errno, errnoName, isSyscallError } from '../errno.js';
import type { ErrnoHints } from '../errors.js';
import { native } from '../native.js';
import { OwnedFd } from '../syscall.js';
import { NATIVE_LITTLE_ENDIAN } from '../attr.js';
import {
  decodeMessages,
  decodeStatus,
  encodeMessage,
  NetlinkDecodeError,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NlmFlags,
  type Attribute,
  type NetlinkMessage,
} from './message.js';

// linux/socket.h, linux/netlink.h, asm-generic/socket.h.
const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const MSG_PEEK = 0x2;
const MSG_TRUNC = 0x20;
/** struct sockaddr_nl: family, pad, port id, groups. */
const SOCKADDR_NL_SIZE = 12;

/** The kernel answers rtnetlink requests at once; a silent socket means something is wrong. */
const REPLY_TIMEOUT_SECONDS = 10;
/** However much a reply keeps arriving, a request gives up after this long. */
const REQUEST_DEADLINE_MS = 60_000;
/** A dump that the kernel flags as inconsistent (objects changed meanwhile) is asked for again, this often. */
const DUMP_ATTEMPTS = 3;

/** What errnos mean for any rtnetlink request, when the caller knows nothing more specific. */
const GENERIC: ErrnoHints = {
  EPERM: 'changing network configuration needs CAP_NET_ADMIN in this network namespace (run as root)',
  EACCES: 'changing network configuration needs CAP_NET_ADMIN in this network namespace (run as root)',
  ENODEV: 'no such network interface',
  ENOENT: 'no such object',
  EEXIST: 'the object already exists',
  EBUSY: 'the object is busy',
  EINVAL: 'the kernel rejected an argument of the request',
  EOPNOTSUPP: 'the device or the kernel does not support this operation',
  ENOMEM: 'the kernel is out of memory',
  EAGAIN: `no reply from the kernel within ${REPLY_TIMEOUT_SECONDS} s`,
};

/** An rtnetlink request that the kernel refused, or that got no answer. */
export class NetlinkError extends Error {
  readonly code: string;

  constructor(
    /** What was being done, e.g. "attaching XDP program fwd to lo (RTM_SETLINK)". */
    readonly operation: string,
    readonly errno: number,
    readonly explanation: string,
    /** The kernel's extended-ack message, when it gave one. */
    readonly kernelMessage?: string,
  ) {
    const code = errnoName(errno);
    super(`${operation} failed with ${code}: ${explanation}${kernelMessage ? ` (kernel: ${kernelMessage})` : ''}`);
    this.name = 'NetlinkError';
    this.code = code;
  }
}

export interface NetlinkRequest {
  /** RTM_* message type. */
  readonly type: number;
  /** Flags besides NLM_F_REQUEST, NLM_F_ACK and NLM_F_DUMP, which the socket sets. */
  readonly flags?: number;
  /** The family header: ifinfomsg, tcmsg. */
  readonly header: Uint8Array;
  readonly attributes?: readonly Attribute[];
}

function u32Bytes(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, NATIVE_LITTLE_ENDIAN);
  return bytes;
}

/** The sender's port id in a struct sockaddr_nl is the kernel's, 0. */
function fromKernel(sender: Uint8Array): boolean {
  return new DataView(sender.buffer).getUint32(4, NATIVE_LITTLE_ENDIAN) === 0;
}

export class NetlinkSocket {
  readonly #fd: OwnedFd;
  #seq = 1;
  #buffer = new Uint8Array(32 * 1024);
  readonly #sender = new Uint8Array(SOCKADDR_NL_SIZE);

  private constructor(fd: OwnedFd) {
    this.#fd = fd;
  }

  /** A NETLINK_ROUTE socket bound to a port id the kernel chooses, in this process's network namespace. */
  static open(): NetlinkSocket {
    const shim = native();
    let fd: number;
    try {
      fd = shim.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    } catch (error) {
      if (isSyscallError(error)) throw new NetlinkError('opening a NETLINK_ROUTE socket', error.errno, error.message);
      throw error;
    }
    const socket = new NetlinkSocket(new OwnedFd(fd, 'netlink socket'));
    try {
      const address = new Uint8Array(SOCKADDR_NL_SIZE);
      new DataView(address.buffer).setUint16(0, AF_NETLINK, NATIVE_LITTLE_ENDIAN);
      shim.bind(fd, address);
      shim.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeval(REPLY_TIMEOUT_SECONDS));
      // Errors then carry the kernel's explanation (Linux 4.12) and no copy of our request (4.3); older kernels refuse the options.
      for (const option of [NETLINK_EXT_ACK, NETLINK_CAP_ACK]) {
        try {
          shim.setsockopt(fd, SOL_NETLINK, option, u32Bytes(1));
        } catch (error) {
          if (!isSyscallError(error) || errnoName(error.errno) !== 'ENOPROTOOPT') throw error;
        }
      }
    } catch (error) {
      socket.close();
      if (isSyscallError(error)) throw new NetlinkError(`setting up a NETLINK_ROUTE socket (${error.syscall})`, error.errno, error.message);
      throw error;
    }
    return socket;
  }

  /** Send a request that changes something (or asks for one object) and wait for its acknowledgement; returns the data messages before it. */
  execute(request: NetlinkRequest, operation: string, hints: ErrnoHints = {}): NetlinkMessage[] {
    const seq = this.#send(request, NlmFlags.ACK, operation, hints);
    return this.#collect(seq, false, operation, hints).messages;
  }

  /** Ask for every object of a kind; a dump the kernel marks inconsistent is asked for again. */
  dump(request: NetlinkRequest, operation: string, hints: ErrnoHints = {}): NetlinkMessage[] {
    for (let attempt = 1; ; attempt++) {
      const seq = this.#send(request, NlmFlags.DUMP, operation, hints);
      const { messages, interrupted } = this.#collect(seq, true, operation, hints);
      if (!interrupted) return messages;
      if (attempt === DUMP_ATTEMPTS) {
        throw new NetlinkError(operation, errnoNumber('EAGAIN'), `the objects kept changing during the dump (${DUMP_ATTEMPTS} attempts)`);
      }
    }
  }

  close(): void {
    this.#fd.close();
  }

  #send(request: NetlinkRequest, kindFlag: number, operation: string, hints: ErrnoHints): number {
    const seq = this.#seq++;
    const bytes = encodeMessage({ type: request.type, flags: NlmFlags.REQUEST | kindFlag | (request.flags ?? 0), seq }, request.header, request.attributes);
    try {
      native().sendto(this.#fd.value, bytes, 0);
    } catch (error) {
      if (isSyscallError(error)) throw netlinkError(operation, error.errno, hints);
      throw error;
    }
    return seq;
  }

  /** Read replies to `seq` until its acknowledgement (or, for a dump, NLMSG_DONE). */
  #collect(seq: number, dump: boolean, operation: string, hints: ErrnoHints): { messages: NetlinkMessage[]; interrupted: boolean } {
    const where = `reply to ${operation}`;
    const messages: NetlinkMessage[] = [];
    let interrupted = false;
    const deadline = Date.now() + REQUEST_DEADLINE_MS;
    for (;;) {
      if (Date.now() > deadline) throw new NetlinkError(operation, errnoNumber('ETIMEDOUT'), `the reply did not end within ${REQUEST_DEADLINE_MS / 1000} s`);
      const datagram = this.#receive(operation, hints);
      // Only the kernel (port id 0) answers requests; anything else sent to our port is not a reply.
      if (datagram === undefined) continue;
      for (const message of decodeMessages(datagram, where)) {
        // A late answer to an earlier request on this socket (one that timed out) is not ours.
        if (message.seq !== seq) continue;
        switch (message.type) {
          case NLMSG_NOOP:
            continue;
          case NLMSG_OVERRUN:
            throw new NetlinkError(operation, errnoNumber('ENOBUFS'), 'the kernel dropped part of the reply (NLMSG_OVERRUN)');
          case NLMSG_ERROR: {
            const status = decodeStatus(message, where);
            if (status.errno !== 0) throw netlinkError(operation, status.errno, hints, status.kernelMessage);
            if (dump) throw new NetlinkDecodeError(where, 'an acknowledgement arrived in the middle of a dump');
            return { messages, interrupted };
          }
          case NLMSG_DONE: {
            if (!dump) throw new NetlinkDecodeError(where, 'NLMSG_DONE arrived for a request that is not a dump');
            const status = decodeStatus(message, where);
            if (status.errno !== 0) throw netlinkError(operation, status.errno, hints, status.kernelMessage);
            return { messages, interrupted: interrupted || (message.flags & NlmFlags.DUMP_INTR) !== 0 };
          }
          default:
            if ((message.flags & NlmFlags.DUMP_INTR) !== 0) interrupted = true;
            messages.push(message);
        }
      }
    }
  }

  /** The next datagram, whatever its size (its length is peeked first so that nothing is cut off); undefined when not from the kernel. */
  #receive(operation: string, hints: ErrnoHints): Uint8Array | undefined {
    const shim = native();
    const fd = this.#fd.value;
    try {
      const length = shim.recvfrom(fd, this.#buffer, MSG_PEEK | MSG_TRUNC);
      if (length > this.#buffer.byteLength) this.#buffer = new Uint8Array(align4k(length));
      const received = shim.recvfrom(fd, this.#buffer, 0, this.#sender);
      // A copy: the messages of this datagram must survive the next receive into the same buffer.
      return fromKernel(this.#sender) ? this.#buffer.slice(0, received) : undefined;
    } catch (error) {
      if (isSyscallError(error)) {
        const timedOut = errnoName(error.errno) === 'EAGAIN';
        throw netlinkError(operation, error.errno, timedOut ? {} : hints);
      }
      throw error;
    }
  }
}

const align4k = (length: number): number => Math.ceil(length / 4096) * 4096;

/** struct timeval on a 64-bit machine: seconds and microseconds, both longs. */
function timeval(seconds: number): Uint8Array {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setBigInt64(0, BigInt(seconds), NATIVE_LITTLE_ENDIAN);
  return bytes;
}

function errnoNumber(name: string): number {
  return Errno[name]!;
}

function netlinkError(operation: string, errno: number, hints: ErrnoHints, kernelMessage?: string): NetlinkError {
  const name = errnoName(errno);
  const explanation = hints[name] ?? GENERIC[name] ?? 'unexpected for this request';
  return new NetlinkError(operation, errno, explanation, kernelMessage);
}

/** Open a socket for the duration of `use`. */
export function withRouteSocket<T>(use: (socket: NetlinkSocket) => T): T {
  const socket = NetlinkSocket.open();
  try {
    return use(socket);
  } finally {
    socket.close();
  }
}
