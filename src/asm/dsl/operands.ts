/**
 * Range rules for the numbers a DSL call puts into an instruction. Each
 * returns a description of the problem, or undefined when the value fits;
 * the builder turns a problem into a DslError at the caller's line.
 */

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const UINT32_MAX = 2 ** 32 - 1;

const hex = (value: number): string => (value < 0 ? `-0x${(-value).toString(16)}` : `0x${value.toString(16)}`);

/**
 * An immediate of an instruction operating on `bits`-wide values. The imm
 * field is 32 bits and 64-bit operations sign-extend it, so there a value
 * 0x80000000..0xffffffff would silently become 0xffffffff80000000..: refuse
 * it and point at the 32-bit form, which compares and computes exactly.
 */
export function immediateProblem(value: unknown, bits: 32 | 64): string | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value)) return `immediate ${String(value)} is not an integer`;
  if (bits === 32 && value >= INT32_MIN && value <= UINT32_MAX) return undefined;
  if (bits === 64 && value >= INT32_MIN && value <= INT32_MAX) return undefined;
  if (bits === 64 && value > INT32_MAX && value <= UINT32_MAX) {
    return (
      `immediate ${hex(value)} would be sign-extended to 64 bits (0xffffffff${value.toString(16).padStart(8, '0')}); ` +
      'use the 32-bit register (w) form, a negative number, or ldImm64'
    );
  }
  return `immediate ${hex(value)} does not fit in 32 bits${bits === 64 ? ' (use ldImm64 for 64-bit constants)' : ''}`;
}

/** The imm field's signed 32-bit representation of a value accepted by immediateProblem. */
export function toImm32(value: number): number {
  return value | 0;
}

export function offsetProblem(value: unknown, what: string): string | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value)) return `${what} ${String(value)} is not an integer`;
  if (value < -32768 || value > 32767) return `${what} ${value} does not fit in the signed 16-bit offset field (-32768..32767)`;
  return undefined;
}

/**
 * The immediate of a store of `bytes` bytes: it must fit the stored width,
 * either as a signed or an unsigned number; an 8-byte store sign-extends the
 * 32-bit field, so the 64-bit immediate rule applies.
 */
export function storeImmediateProblem(value: unknown, bytes: 1 | 2 | 4 | 8): string | undefined {
  if (bytes >= 4) return immediateProblem(value, bytes === 8 ? 64 : 32);
  if (typeof value !== 'number' || !Number.isInteger(value)) return `immediate ${String(value)} is not an integer`;
  const bits = bytes * 8;
  if (value < -(2 ** (bits - 1)) || value >= 2 ** bits) {
    return `immediate ${hex(value)} does not fit the ${bits}-bit store (${-(2 ** (bits - 1))}..${hex(2 ** bits - 1)})`;
  }
  return undefined;
}
