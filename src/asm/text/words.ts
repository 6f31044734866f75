import { AsmSyntaxError } from '../errors.js';
import { SLOT_BYTES } from '../instruction.js';

/**
 * Read instruction words, one 64-bit little-endian slot per line written as
 * `0x%016x` (the conformance suite's `-- raw` format, and `--format words`).
 * Blank lines and `#` or `;` comments are ignored.
 */
export function parseWords(text: string, file: string): Uint8Array {
  const words: bigint[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (line === '') return;
    if (!/^0x[0-9a-f]{1,16}$/i.test(line)) {
      throw new AsmSyntaxError({ file, line: index + 1 }, `expected one 64-bit word like 0x0000000000000095, found '${line}'`);
    }
    words.push(BigInt(line));
  });
  const bytes = new Uint8Array(words.length * SLOT_BYTES);
  const view = new DataView(bytes.buffer);
  words.forEach((word, i) => view.setBigUint64(i * SLOT_BYTES, word, true));
  return bytes;
}
