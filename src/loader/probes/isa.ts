/**
 * Instruction set probes: a socket filter that uses the instructions of an
 * ISA version, loaded and closed. A kernel that predates an instruction
 * rejects it in the verifier ("unknown opcode", "reserved fields"); one
 * whose JIT cannot compile it answers ENOTSUPP.
 *
 * Each program reads skb->len into r2 first, so that the verifier cannot
 * know the outcome of a branch or an operation and must check both ways.
 */
import { alu, endian, movsx } from '../../asm/alu.js';
import { exit } from '../../asm/func.js';
import type { Instruction } from '../../asm/instruction.js';
import { gotol, jcond } from '../../asm/jump.js';
import { ldx, stx } from '../../asm/load_store.js';
import { FRAME_POINTER } from '../../asm/opcodes.js';
import { parseVerifierLog } from '../errors.js';
import { inconclusive } from './kernel.js';
import { assertProgramsLoadable, loadAs } from './program-types.js';
import { available, cachedProbe, unavailable, type FeatureStatus } from './status.js';

/** r2 = skb->len (offset 0 of struct __sk_buff). */
const LOAD_LENGTH = ldx('W', 2, 1, 0);
const RETURN_ZERO = [alu('MOV', true, 0, { imm: 0 }), exit()];

interface IsaProbe {
  readonly description: string;
  readonly since: string;
  readonly body: readonly Instruction[];
}

const V4_SINCE = '6.6';

/** The parts of ISA v4, probed one by one so that a refusal names the instruction. */
const V4_PARTS = {
  sdiv_smod: {
    description: 'signed division and modulo (sdiv, smod)',
    since: V4_SINCE,
    body: [alu('MOV', true, 3, { reg: 2 }), alu('DIV', true, 3, { imm: 3 }, true), alu('MOD', true, 3, { imm: 3 }, true), alu('DIV', false, 3, { imm: -3 }, true), alu('MOD', false, 3, { imm: 5 }, true)],
  },
  movsx: {
    description: 'sign-extending moves (movsx)',
    since: V4_SINCE,
    body: [movsx(true, 3, 2, 8), movsx(true, 3, 2, 16), movsx(true, 3, 2, 32), movsx(false, 3, 2, 8), movsx(false, 3, 2, 16)],
  },
  memsx: {
    description: 'sign-extending loads (ldsx, MEMSX mode)',
    since: V4_SINCE,
    body: [stx('DW', FRAME_POINTER, 2, -8), ldx('B', 3, FRAME_POINTER, -8, true), ldx('H', 3, FRAME_POINTER, -8, true), ldx('W', 3, FRAME_POINTER, -8, true)],
  },
  bswap: {
    description: 'unconditional byte swaps (bswap16/32/64)',
    since: V4_SINCE,
    body: [endian('bswap', 16, 2), endian('bswap', 32, 2), endian('bswap', 64, 2)],
  },
  gotol: {
    description: 'jumps with a 32-bit offset (gotol)',
    since: V4_SINCE,
    body: [gotol(0)],
  },
} as const satisfies Record<string, IsaProbe>;
export type IsaV4Part = keyof typeof V4_PARTS;

const SINGLE = {
  v2: {
    description: 'ISA v2: unsigned and signed less-than jumps (jlt, jle, jslt, jsle)',
    since: '4.14',
    body: [jcond('JLT', true, 2, { imm: 10 }, 0), jcond('JLE', true, 2, { imm: 10 }, 0), jcond('JSLT', true, 2, { imm: 10 }, 0), jcond('JSLE', true, 2, { reg: 2 }, 0)],
  },
  v3: {
    description: 'ISA v3: 32-bit jumps (JMP32 class) and 32-bit arithmetic',
    since: '5.1',
    body: [alu('ADD', false, 2, { imm: 1 }), alu('MOV', false, 3, { reg: 2 }), jcond('JEQ', false, 2, { imm: 3 }, 0), jcond('JLT', false, 2, { reg: 3 }, 0), jcond('JSGT', false, 3, { imm: -1 }, 0)],
  },
  ...Object.fromEntries(Object.entries(V4_PARTS).map(([part, probe]) => [`v4:${part}`, probe])),
} as Readonly<Record<string, IsaProbe>>;

export type IsaFeature = 'v2' | 'v3' | 'v4' | `v4:${IsaV4Part}`;
export const ISA_FEATURES: readonly IsaFeature[] = ['v2', 'v3', 'v4', ...(Object.keys(V4_PARTS) as IsaV4Part[]).map((part) => `v4:${part}` as const)];

export function isaFeature(feature: IsaFeature): string {
  return `isa:${feature}`;
}

function probeOne(feature: IsaFeature, probe: IsaProbe): FeatureStatus {
  const name = isaFeature(feature);
  return cachedProbe(name, () => {
    assertProgramsLoadable();
    const { refusal, log } = loadAs('socket_filter', [LOAD_LENGTH, ...probe.body, ...RETURN_ZERO]);
    if (!refusal) return available(name, probe.description, probe.since);
    if (refusal.code === 'ENOTSUPP') return unavailable(name, probe.description, probe.since, 'the verifier accepts it, but the JIT cannot compile it (ENOTSUPP)');
    if (log.trim().length > 0) return unavailable(name, probe.description, probe.since, `the verifier rejected it: ${parseVerifierLog(log).detail}`);
    throw inconclusive('PROG_LOAD', probe.description, refusal);
  });
}

/** Whether the kernel accepts the instructions of an ISA version (v4 as a whole, or one of its parts). */
export function probeIsa(feature: IsaFeature): FeatureStatus {
  if (feature !== 'v4') return probeOne(feature, SINGLE[feature]!);
  const name = isaFeature('v4');
  return cachedProbe(name, () => {
    const description = 'ISA v4: sdiv/smod, movsx, ldsx, bswap, gotol';
    const missing = (Object.keys(V4_PARTS) as IsaV4Part[]).map((part) => probeIsa(`v4:${part}`)).filter((status) => !status.supported);
    if (missing.length === 0) return available(name, description, V4_SINCE);
    return unavailable(name, description, V4_SINCE, missing.map((status) => `${status.description}: ${status.reason}`).join('; '));
  });
}
