/**
 * Issuing bpf() requests through the shim, and owning the file
 * descriptors they return.
 */
import type { BpfRequest } from './attr.js';
import { isSyscallError } from './errno.js';
import { bpfErrorFrom, type ErrnoHints } from './errors.js';
import { native } from './native.js';
import { BpfCommand } from './uapi.js';

/** Run a request; a failure becomes a FeatureError, PermissionError or BpfError (never a bare errno). */
export function bpfCall(request: BpfRequest, hints?: ErrnoHints): number {
  const shim = native();
  try {
    return shim.bpf(BpfCommand[request.command].value, request.attr.bytes, request.pointers);
  } catch (error) {
    if (isSyscallError(error)) throw bpfErrorFrom(request, error, hints);
    throw error;
  }
}

// The safety net for handles dropped without close(): the descriptor is
// closed when the handle is collected. Explicit close() remains the rule;
// collection may come late or, at exit, never.
const unclosed = new FinalizationRegistry<number>((fd) => {
  try {
    native().close(fd);
  } catch {
    // Nothing can report an error from a finalizer.
  }
});

/** A file descriptor that a handle owns and closes exactly once. */
export class OwnedFd {
  #fd: number | undefined;

  constructor(
    fd: number,
    /** What the descriptor refers to, for the error after close(). */
    readonly what: string,
  ) {
    this.#fd = fd;
    unclosed.register(this, fd, this);
  }

  get value(): number {
    if (this.#fd === undefined) throw new Error(`${this.what} is closed`);
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd === undefined;
  }

  close(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    unclosed.unregister(this);
    native().close(fd);
  }
}

/** Run a request that returns a new file descriptor, and own it. */
export function bpfFd(request: BpfRequest, what: string, hints?: ErrnoHints): OwnedFd {
  return new OwnedFd(bpfCall(request, hints), what);
}
