/**
 * Errors of the loader. None of them is a bare errno: each says which bpf()
 * command failed, what the errno means for that command, and what to do.
 */
import { release } from 'node:os';
import { formatLocation } from '../asm/errors.js';
import type { SourceLocation } from '../asm/program.js';
import type { BpfRequest, Requirement } from './attr.js';
import { errnoName, type SyscallError } from './errno.js';
import { kernelAtLeast, type BpfCommandName } from './uapi.js';

/** The native shim cannot be used here: not Linux, not built, or failed to load. */
export class NativeUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(`bpfgen cannot make system calls: ${reason}`);
    this.name = 'NativeUnavailableError';
  }
}

/** A bpf() call failed; `explanation` says what the errno means for this command. */
export class BpfError extends Error {
  readonly code: string;

  constructor(
    readonly command: BpfCommandName,
    readonly errno: number,
    readonly explanation: string,
    message?: string,
  ) {
    const code = errnoName(errno);
    super(message ?? `bpf(BPF_${command}) failed with ${code}: ${explanation}`);
    this.name = 'BpfError';
    this.code = code;
  }
}

const PRIVILEGE_ADVICE =
  'bpf() needs root, or CAP_BPF together with CAP_NET_ADMIN (networking programs) or CAP_PERFMON (tracing programs); ' +
  'kernels before 5.8 need CAP_SYS_ADMIN, and unprivileged use is governed by the sysctl kernel.unprivileged_bpf_disabled';

/** EPERM: the process lacks the privileges for this command. */
export class PermissionError extends BpfError {
  constructor(command: BpfCommandName, errno: number, context?: string) {
    const explanation = context ? `${context}; otherwise, ${PRIVILEGE_ADVICE}` : PRIVILEGE_ADVICE;
    super(command, errno, explanation, `bpf(BPF_${command}) was not permitted (${errnoName(errno)}): ${explanation}`);
    this.name = 'PermissionError';
  }
}

/** The running kernel predates something the request needs. */
export class FeatureError extends Error {
  constructor(
    readonly feature: string,
    /** Linux release that introduced the feature. */
    readonly since: string,
    readonly kernelRelease: string,
  ) {
    super(`${feature}: needs Linux ${since} or newer; this kernel is ${kernelRelease}`);
    this.name = 'FeatureError';
  }
}

/** A relocation that the loader cannot apply, located at its instruction. */
export class RelocationError extends Error {
  constructor(
    readonly at: SourceLocation | undefined,
    readonly insn: number,
    readonly detail: string,
  ) {
    super(`${at ? formatLocation(at) : `instruction ${insn}`}: ${detail}`);
    this.name = 'RelocationError';
  }
}

/** What the verifier's last words say: which instruction (slot number) and why. */
export interface VerifierVerdict {
  /** Slot number of the failing instruction, as the kernel counts (ld_imm64 takes two). */
  readonly slot?: number;
  /** The failing instruction as the verifier printed it. */
  readonly instruction?: string;
  readonly detail: string;
}

/** The verifier rejected the program. */
export class VerifierError extends BpfError {
  constructor(
    errno: number,
    /** The complete verifier log. */
    readonly log: string,
    readonly verdict: VerifierVerdict,
    /** Index into the assembled instructions (not the slot), when the log names one. */
    readonly insn: number | undefined,
    /** The DSL call site or assembler line of that instruction. */
    readonly at: SourceLocation | undefined,
    programName: string,
  ) {
    const where = at ? formatLocation(at) : verdict.slot !== undefined ? `${programName} insn ${verdict.slot}` : programName;
    const instruction = verdict.slot !== undefined && verdict.instruction ? ` (insn ${verdict.slot}: ${verdict.instruction})` : '';
    const message = `${where}: ${verdict.detail}${instruction}`;
    super('PROG_LOAD', errno, `the verifier rejected ${programName}: ${verdict.detail}`, message);
    this.name = 'VerifierError';
  }

  get slot(): number | undefined {
    return this.verdict.slot;
  }
}

/** `N: (hex) text` with the register state the verifier may append after `;`. */
const INSN_LINE = /^(\d+): \([0-9a-f]{2}\) (.*?)(?:\s+;.*)?$/;
/** Lines that follow the verdict: statistics, or register states of other branches. */
const TRAILER = /^(processed \d+ insns|verification time|stack depth|max_states_per_insn|\d+: R\d|from \d+ to \d+:|;)/;

/** Read the failing instruction and the reason from the end of a verifier log. */
export function parseVerifierLog(log: string): VerifierVerdict {
  const lines = log.split('\n').map((line) => line.trimEnd()).filter((line) => line.length > 0);
  let last = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (INSN_LINE.test(lines[i]!)) {
      last = i;
      break;
    }
  }
  const after = lines.slice(last + 1).filter((line) => !TRAILER.test(line));
  if (last >= 0 && after.length > 0) {
    const [, slot, instruction] = INSN_LINE.exec(lines[last]!)!;
    return { slot: Number(slot), instruction, detail: after.join('; ') };
  }
  // Checks before the walk (control-flow graph, ld_imm64 pairing) name the instruction in prose.
  const detail = after.at(-1) ?? lines.filter((line) => !TRAILER.test(line)).at(-1) ?? 'the verifier gave no reason (empty log)';
  const named = /\binsn (\d+)/.exec(detail);
  return named ? { slot: Number(named[1]), detail } : { detail };
}

/** What each errno means, for a command that has nothing more specific to say. */
const GENERIC: Readonly<Record<string, (command: BpfCommandName) => string>> = {
  EINVAL: (command) => `the kernel rejected an argument of BPF_${command}: a type, size or flag it does not accept`,
  E2BIG: (command) => `an argument of BPF_${command} is beyond a kernel limit`,
  ENOENT: () => 'no such object: the key, id or path does not exist',
  EBADF: () => 'a file descriptor passed is not open, or is not the kind of bpf object this command takes',
  ENOMEM: () => 'the kernel is out of memory for bpf objects (before Linux 5.11 they count against RLIMIT_MEMLOCK: raise it with `ulimit -l`)',
  EFAULT: () => 'the kernel could not access a buffer passed to it',
  ENOSPC: () => 'an output buffer was too small for what the kernel returns',
  EACCES: () => 'access to the object was denied',
  EBUSY: () => 'the object is busy: something else is attached or holds it',
  EEXIST: () => 'the object already exists',
  ENODEV: () => 'no such network device',
  EOPNOTSUPP: (command) => `this object does not support BPF_${command}`,
  ENOTSUPP: (command) => `this object does not support BPF_${command}`,
  EAGAIN: () => 'the kernel was interrupted; try again',
};

/** errno names for which an unmet requirement is the likeliest cause. */
const FEATURE_ERRNOS = new Set(['EINVAL', 'E2BIG', 'EOPNOTSUPP', 'ENOTSUPP']);

function missingFeature(requires: readonly Requirement[], kernelRelease: string): Requirement | undefined {
  return requires.find((requirement) => !kernelAtLeast(kernelRelease, requirement.since));
}

/** Explanations that the call site knows better than the generic table, keyed by errno name. */
export type ErrnoHints = Readonly<Partial<Record<string, string>>>;

/** Turn a failed bpf() call into the most specific error: FeatureError, PermissionError or BpfError. */
export function bpfErrorFrom(request: BpfRequest, error: SyscallError, hints: ErrnoHints = {}, kernelRelease = release()): Error {
  const name = errnoName(error.errno);
  if (name === 'EPERM') return new PermissionError(request.command, error.errno, hints.EPERM);
  if (FEATURE_ERRNOS.has(name)) {
    const missing = missingFeature(request.requires, kernelRelease);
    if (missing) return new FeatureError(missing.feature, missing.since, kernelRelease);
  }
  const explanation = hints[name] ?? GENERIC[name]?.(request.command) ?? `${error.message} (unexpected for BPF_${request.command})`;
  return new BpfError(request.command, error.errno, explanation);
}
