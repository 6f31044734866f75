/**
 * Program type probes: load `r0 = 0; exit` as each type. Most types take it
 * as is; some must name an expected attach type or a flag at load time, and
 * a few (tracing, lsm, ext, struct_ops) cannot load without a BTF target,
 * so for them a particular refusal from the verifier is the proof that the
 * kernel knows the type.
 */
import { release } from 'node:os';
import { alu } from '../../asm/alu.js';
import { exit } from '../../asm/func.js';
import { encode, type Instruction } from '../../asm/instruction.js';
import { parseVerifierLog } from '../errors.js';
import { native } from '../native.js';
import { kernelVersionCode } from '../program.js';
import { AttachType, F_SLEEPABLE, KernelProgramType, type AttachTypeName, type KernelProgramTypeName } from '../uapi.js';
import { probeLoadAttr } from './attr.js';
import { assertCanLoadPrograms, attempt, ATTR_TOO_NEW, inconclusive, logText, NOT_PERMITTED, type Refusal } from './kernel.js';
import { available, cachedProbe, unavailable, type FeatureStatus } from './status.js';

interface TypeRequirements {
  readonly expectedAttachType?: AttachTypeName;
  readonly progFlags?: number;
  /**
   * A refusal that shows the kernel knows the type although no program of
   * it can load without a BTF attach target; such types cannot have their
   * helpers probed either.
   */
  readonly knownDespite?: (refusal: Refusal, log: string) => boolean;
}

/** The verifier reached the attach-target check, so it accepted the type itself. */
const needsBtfTarget = (refusal: Refusal, log: string) => refusal.code === 'EINVAL' && log.includes('must provide btf_id');

const REQUIREMENTS: Partial<Record<KernelProgramTypeName, TypeRequirements>> = {
  cgroup_sock_addr: { expectedAttachType: 'cgroup_inet4_connect' },
  lirc_mode2: { expectedAttachType: 'lirc_mode2' },
  cgroup_sockopt: { expectedAttachType: 'cgroup_getsockopt' },
  sk_lookup: { expectedAttachType: 'sk_lookup' },
  netfilter: { expectedAttachType: 'netfilter' },
  syscall: { progFlags: F_SLEEPABLE },
  // No expected attach type: fentry/fexit/modify_return would make the load
  // depend on BPF trampolines, which a kernel may forbid or lack.
  tracing: { knownDespite: needsBtfTarget },
  lsm: { knownDespite: needsBtfTarget },
  ext: { knownDespite: needsBtfTarget },
  // Without a struct_ops BTF id the verifier gives up with ENOTSUPP, after accepting the type.
  struct_ops: { knownDespite: (refusal) => refusal.code === 'ENOTSUPP' },
};

/** Whether helper calls can be probed in programs of this type (they cannot when it needs a BTF target). */
export function helpersProbeable(type: KernelProgramTypeName): boolean {
  return REQUIREMENTS[type]?.knownDespite === undefined;
}

const LOG_SIZE = 16 * 1024;

export interface Refused {
  readonly refusal: Refusal;
  readonly log: string;
}

/** Load `insns` as a program of `type`, with what the type requires: its descriptor, which the caller closes, or the refusal. */
export function openProgram(type: KernelProgramTypeName, insns: readonly Instruction[]): number | Refused {
  const requirements = REQUIREMENTS[type] ?? {};
  const log = new Uint8Array(LOG_SIZE);
  const attr = probeLoadAttr({
    progType: KernelProgramType[type].value,
    insns: encode(insns),
    expectedAttachType: requirements.expectedAttachType && AttachType[requirements.expectedAttachType].value,
    progFlags: requirements.progFlags,
    kernVersion: type === 'kprobe' ? kernelVersionCode() : 0,
    log,
  });
  const answer = attempt('PROG_LOAD', attr);
  return typeof answer === 'number' ? answer : { refusal: answer, log: logText(log) };
}

export interface LoadOutcome {
  /** Absent when the program loaded. */
  readonly refusal?: Refusal;
  readonly log: string;
}

/** Load and close at once: did the kernel accept the program, and what did the verifier say otherwise. */
export function loadAs(type: KernelProgramTypeName, insns: readonly Instruction[]): LoadOutcome {
  const answer = openProgram(type, insns);
  if (typeof answer !== 'number') return answer;
  native().close(answer);
  return { log: '' };
}

const RETURN_ZERO = [alu('MOV', true, 0, { imm: 0 }), exit()];

/** Throw unless this process can load a socket filter: the premise of every program probe. */
export function assertProgramsLoadable(): void {
  assertCanLoadPrograms(() => loadAs('socket_filter', RETURN_ZERO).refusal);
}

export function programTypeFeature(type: KernelProgramTypeName): string {
  return `prog_type:${type}`;
}

export function probeProgramType(type: KernelProgramTypeName): FeatureStatus {
  const name = programTypeFeature(type);
  return cachedProbe(name, () => {
    assertProgramsLoadable();
    const { value, since } = KernelProgramType[type];
    const description = `${type} programs`;
    const { refusal, log } = loadAs(type, RETURN_ZERO);
    if (!refusal || REQUIREMENTS[type]?.knownDespite?.(refusal, log)) return available(name, description, since);
    const no = (reason: string) => unavailable(name, description, since, reason);
    switch (refusal.code) {
      case 'EINVAL':
        return no(
          log.trim().length > 0
            ? `the verifier rejected a program of this type: ${parseVerifierLog(log).detail}`
            : `the kernel rejected program type ${value} before verifying anything (EINVAL): it predates Linux ${since} or was built without this type (kernel ${release()})`,
        );
      case 'E2BIG':
        return no(ATTR_TOO_NEW);
      case 'EPERM':
        return no(NOT_PERMITTED);
      case 'ENOTSUPP':
      case 'EOPNOTSUPP':
        return no(`the kernel does not support loading programs of this type here (${refusal.code})`);
      default:
        throw inconclusive('PROG_LOAD', description, refusal);
    }
  });
}
