/**
 * The kernel matrix (vm-tests/) runs the kernel tests in guests under QEMU's
 * TCG emulation, about ten times slower than the host, and sets
 * BPFGEN_EMULATED=1 for them. Tests that prove a property over many inputs
 * (sweeps, streams, repeated rounds) take fewer of them there, so that the
 * matrix stays within its time budget; `npm test` on the host runs the full
 * counts. Either way each input is checked the same way.
 */
export const EMULATED = process.env.BPFGEN_EMULATED === '1';

/** `host` in an ordinary run, `emulated` in the kernel matrix's guests. */
export function emulationScaled(host: number, emulated: number): number {
  return EMULATED ? emulated : host;
}
