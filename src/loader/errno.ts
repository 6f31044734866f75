import { constants } from 'node:os';

/**
 * ENOTSUPP is a kernel-internal errno (524) that bpf() lets escape for
 * operations a map or program type does not implement; libc has no name
 * for it, so Node's table lacks it.
 */
export const ENOTSUPP = 524;

/** Errno numbers by name, as this platform's libc defines them. */
export const Errno: Readonly<Record<string, number>> = { ...constants.errno, ENOTSUPP };

/**
 * Where libc gives one number two names, the one the kernel sources use, so
 * that messages and hint tables match the kernel's documentation.
 */
const KERNEL_SPELLINGS = new Set(['EOPNOTSUPP', 'EAGAIN', 'EDEADLK']);

const nameByNumber = new Map<number, string>();
for (const [name, value] of Object.entries(Errno)) {
  if (!nameByNumber.has(value) || KERNEL_SPELLINGS.has(name)) nameByNumber.set(value, name);
}

export function errnoName(errno: number): string {
  return nameByNumber.get(errno) ?? `errno ${errno}`;
}

/** The Error the native shim throws for a failed system call. */
export interface SyscallError extends Error {
  readonly errno: number;
  readonly code: string;
  readonly syscall: string;
}

export function isSyscallError(error: unknown): error is SyscallError {
  return error instanceof Error && typeof (error as Partial<SyscallError>).errno === 'number' && typeof (error as Partial<SyscallError>).syscall === 'string';
}
