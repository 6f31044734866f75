/**
 * Asking the kernel: one bpf() request per question, the errno kept as the
 * answer (the loader's bpfCall would turn it into an exception), and every
 * descriptor the kernel hands back closed at once.
 */
import { errnoName, isSyscallError } from '../errno.js';
import { BpfError, PermissionError } from '../errors.js';
import { native } from '../native.js';
import { BpfCommand, type BpfCommandName } from '../uapi.js';
import type { PointerPatch } from '../attr.js';

/** Why the kernel refused a request. */
export interface Refusal {
  readonly errno: number;
  /** errno name, e.g. `EINVAL`; ENOTSUPP for the kernel-internal 524. */
  readonly code: string;
}

interface Request {
  readonly bytes: Uint8Array;
  readonly pointers: readonly PointerPatch[];
}

/** Issue one request: the new descriptor, or the refusal. Other failures (no shim) are thrown. */
export function attempt(command: BpfCommandName, attr: Request): number | Refusal {
  try {
    return native().bpf(BpfCommand[command].value, attr.bytes, attr.pointers);
  } catch (error) {
    if (isSyscallError(error)) return { errno: error.errno, code: errnoName(error.errno) };
    throw error;
  }
}

/** Issue a request whose descriptor is not needed: accepted (and closed) or refused. */
export function attemptAndClose(command: BpfCommandName, attr: Request): Refusal | undefined {
  const answer = attempt(command, attr);
  if (typeof answer !== 'number') return answer;
  native().close(answer);
  return undefined;
}

/** The NUL-terminated text the kernel wrote into a log buffer. */
export function logText(buffer: Uint8Array): string {
  const end = buffer.indexOf(0);
  return new TextDecoder().decode(end < 0 ? buffer : buffer.subarray(0, end));
}

/** A probe got an answer that says nothing about the feature (out of memory, bad address…). */
export function inconclusive(command: BpfCommandName, what: string, refusal: Refusal): BpfError {
  return new BpfError(command, refusal.errno, `probing ${what} failed with ${refusal.code}, which says nothing about whether the kernel has it`);
}

/** Text for an EPERM on one probe while this process can load other programs. */
export const NOT_PERMITTED =
  'the kernel refused with EPERM although this process may load other programs: it needs capabilities this process lacks ' +
  '(CAP_NET_ADMIN for networking programs, CAP_PERFMON for tracing ones, CAP_SYS_ADMIN for some), ' +
  'or a security policy or the kernel configuration forbids it';

/** Text for E2BIG: the request sets bpf_attr fields the kernel does not have. */
export const ATTR_TOO_NEW = 'the kernel predates fields of bpf_attr that this request needs (E2BIG)';

let baselineChecked = false;

/**
 * Whether this process may use bpf() at all, settled once by `load`ing the
 * smallest program. Without it every probe would say "no" for the wrong
 * reason, so its failure is thrown instead.
 */
export function assertCanLoadPrograms(load: () => Refusal | undefined): void {
  if (baselineChecked) return;
  const refusal = load();
  if (refusal?.code === 'EPERM') {
    throw new PermissionError('PROG_LOAD', refusal.errno);
  }
  if (refusal) {
    throw new BpfError(
      'PROG_LOAD',
      refusal.errno,
      refusal.code === 'ENOSYS'
        ? 'this kernel has no bpf() system call (built without CONFIG_BPF_SYSCALL)'
        : `the kernel refused even a two-instruction socket filter (${refusal.code}), so no feature can be probed`,
    );
  }
  baselineChecked = true;
}
