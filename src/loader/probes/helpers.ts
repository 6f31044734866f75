/**
 * Helper probes: load `call HELPER; r0 = 0; exit` as a program of the type
 * and read the verifier's answer. The verifier first looks the helper up
 * for the program type, and only then checks its arguments (which this
 * program leaves unset). So the lookup's own messages mean "no":
 *   - `invalid func unknown#ID`: the kernel does not know the helper id;
 *   - `program of this type cannot use helper bpf_NAME#ID` (`unknown func
 *     bpf_NAME#ID` before Linux 6.x): it knows the helper, not for this type;
 *   - `func bpf_NAME#ID not supported for program type N` (ENOTSUPP): the
 *     type's table lists the helper, a later check refuses it anyway
 *     (bpf_get_func_ip in tracepoints);
 *   - `helper call might sleep in a non-sleepable prog`: only sleepable
 *     programs may call it, and these load without BPF_F_SLEEPABLE (except
 *     the syscall type, which must be sleepable);
 * and any other verdict (a bad argument, usually) means the lookup passed.
 */
import { alu } from '../../asm/alu.js';
import { callHelper, exit } from '../../asm/func.js';
import { helperByName, type Helper, type HelperName } from '../../asm/helpers.js';
import { kernelAtLeast, KernelProgramType, type KernelProgramTypeName } from '../uapi.js';
import { HELPER_SINCE } from './helper-versions.js';
import { ATTR_TOO_NEW, inconclusive, NOT_PERMITTED } from './kernel.js';
import { helpersProbeable, loadAs, probeProgramType } from './program-types.js';
import { available, cachedProbe, unavailable, type FeatureStatus } from './status.js';

/**
 * Helpers whose mere verification leaves a trace in the kernel: trace_printk
 * and trace_vprintk make it allocate trace buffers and print a notice to the
 * kernel log, probe_write_user logs a warning. bpftool leaves them out of its
 * probes unless asked (`full`); so does probeAll.
 */
export const SIDE_EFFECT_HELPERS: Readonly<Partial<Record<HelperName, string>>> = {
  trace_printk: 'verifying it allocates trace_printk buffers and prints a notice to the kernel log',
  trace_vprintk: 'verifying it allocates trace_printk buffers and prints a notice to the kernel log',
  probe_write_user: 'verifying it prints a warning to the kernel log',
};

const UNKNOWN_HELPER = 'the kernel does not know helper';

/** Whether the answer is "the kernel has no such helper at all", as opposed to "not for this program type". */
export function unknownToKernel(status: FeatureStatus): boolean {
  return !status.supported && status.reason!.startsWith(UNKNOWN_HELPER);
}

export function helperFeature(type: KernelProgramTypeName, helper: HelperName): string {
  return `helper:${type}:${helper}`;
}

function helperNamed(name: HelperName): Helper {
  const helper = helperByName(name);
  if (!helper) throw new RangeError(`unknown helper ${name}`);
  return helper;
}

/** Whether programs of `type` may call the helper on this kernel. */
export function probeHelper(type: KernelProgramTypeName, helperName: HelperName): FeatureStatus {
  if (!helpersProbeable(type)) {
    throw new RangeError(`helpers cannot be probed in ${type} programs: they load only with a BTF attach target`);
  }
  const name = helperFeature(type, helperName);
  return cachedProbe(name, () => {
    const helper = helperNamed(helperName);
    // The later of the helper's and the program type's release: netfilter programs (6.4) got map_lookup_elem (3.19) in 6.4.
    const helperSince = HELPER_SINCE[helperName];
    const typeSince = KernelProgramType[type].since;
    const since = kernelAtLeast(helperSince, typeSince) ? helperSince : typeSince;
    const description = `bpf_${helperName} in ${type} programs`;
    const no = (reason: string) => unavailable(name, description, since, reason);
    const programs = probeProgramType(type);
    if (!programs.supported) return no(`${type} programs are not available: ${programs.reason}`);

    const { refusal, log } = loadAs(type, [callHelper(helper.id), alu('MOV', true, 0, { imm: 0 }), exit()]);
    if (!refusal) return available(name, description, since);
    // The program has one call, so these messages can only be about it.
    if (log.includes('invalid func ')) return no(`${UNKNOWN_HELPER} ${helper.id} (bpf_${helperName}, Linux ${helperSince})`);
    if (['program of this type cannot use helper', 'unknown func ', 'not supported for program type'].some((marker) => log.includes(marker))) {
      return no(`the kernel has bpf_${helperName}, but not for ${type} programs`);
    }
    if (log.includes('might sleep in a non-sleepable prog')) {
      return no(`bpf_${helperName} may sleep, and ${type} programs loaded without BPF_F_SLEEPABLE cannot call it`);
    }
    switch (refusal.code) {
      case 'EPERM':
        return no(NOT_PERMITTED);
      case 'E2BIG':
        return no(ATTR_TOO_NEW);
      case 'EINVAL':
      case 'EACCES':
        // The verifier got past the lookup; without a log it never ran, which no probe explains.
        if (log.trim().length > 0) return available(name, description, since);
    }
    throw inconclusive('PROG_LOAD', description, refusal);
  });
}
