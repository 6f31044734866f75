/**
 * The native syscall shim (shim/bpfgen_shim.cc), loaded on first use so
 * that the pure parts of bpfgen (assembler, disassembler, ELF writer) work
 * on machines that cannot load programs.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { PointerPatch } from './attr.js';
import { NativeUnavailableError } from './errors.js';

/** Buffers in, numbers out; a failed call throws an Error with `errno`, `code` and `syscall`. */
export interface NativeShim {
  /** `pointers`: addresses to store into the attr (or structs it points to) just before the call. */
  bpf(cmd: number, attr: Uint8Array, pointers?: readonly PointerPatch[]): number;
  close(fd: number): void;
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, sockaddr: Uint8Array): void;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array): void;
  /** Returns the number of bytes written into `value`. */
  getsockopt(fd: number, level: number, name: number, value: Uint8Array): number;
  sendto(fd: number, data: Uint8Array, flags: number, sockaddr?: Uint8Array): number;
  /** Returns the number of bytes received; the sender's sockaddr is written into `sockaddr`. */
  recvfrom(fd: number, data: Uint8Array, flags: number, sockaddr?: Uint8Array): number;
  /** One datagram into `data`, the sender's sockaddr into `sockaddr`, ancillary messages (cmsg) into `control`. */
  recvmsg(fd: number, data: Uint8Array, flags: number, sockaddr?: Uint8Array, control?: Uint8Array): ReceivedMessage;
  /** Move the calling thread into the namespace `fd` refers to (nstype e.g. CLONE_NEWNET); sockets created afterwards stay in it. */
  setns(fd: number, nstype: number): void;
  /**
   * Calls `onReadable` on the event loop whenever `fd` is readable (libuv
   * poll, level-triggered) until stop(); status is 0 or a negative libuv error.
   * While it watches, it keeps the event loop alive.
   */
  FdWatcher: new (fd: number, onReadable: (status: number) => void) => { stop(): void };
  if_nametoindex(name: string): number;
}

/** What recvmsg reports: lengths as the kernel set them (`bytes` is the full datagram length with MSG_TRUNC), and msg_flags. */
export interface ReceivedMessage {
  readonly bytes: number;
  readonly addressBytes: number;
  readonly controlBytes: number;
  readonly flags: number;
}

/** Both src/loader and dist/loader sit two levels below the package root. */
const packageRoot = fileURLToPath(new URL('../../', import.meta.url));
const ADDON_PATHS = ['build/Release/bpfgen_shim.node', 'build/Debug/bpfgen_shim.node'];

let loaded: NativeShim | NativeUnavailableError | undefined;

function load(): NativeShim | NativeUnavailableError {
  if (process.platform !== 'linux') {
    return new NativeUnavailableError(`bpf() exists only on Linux; this is ${process.platform}`);
  }
  const path = ADDON_PATHS.map((relative) => packageRoot + relative).find((candidate) => existsSync(candidate));
  if (!path) {
    return new NativeUnavailableError(
      `the native shim is not built (no ${ADDON_PATHS[0]} under ${packageRoot}); build it with \`node scripts/build-shim.mjs\` (needs python3, make and a C++ compiler)`,
    );
  }
  try {
    return createRequire(import.meta.url)(path) as NativeShim;
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return new NativeUnavailableError(`the native shim at ${path} failed to load (${detail}); rebuild it with \`node scripts/build-shim.mjs\``);
  }
}

/** The shim; throws NativeUnavailableError naming why it cannot be used. */
export function native(): NativeShim {
  loaded ??= load();
  if (loaded instanceof NativeUnavailableError) throw loaded;
  return loaded;
}

/** Why the shim cannot be used, or undefined when it can. */
export function nativeUnavailableReason(): string | undefined {
  loaded ??= load();
  return loaded instanceof NativeUnavailableError ? loaded.reason : undefined;
}
