/**
 * The reader against damaged objects: truncated and bit-flipped versions of
 * clang's fixtures and of objects bpfgen writes, from a seeded generator so
 * that a failure can be replayed. Each must either read (the damage hit
 * something the reader does not need, such as DWARF) or fail with an
 * ElfError; any other exception is a bug.
 */
import { describe, expect, it } from 'vitest';
import { ElfError } from '../../src/asm/elf/errors.js';
import { readObject } from '../../src/asm/elf/reader.js';
import { writeObject } from '../../src/asm/elf/writer.js';
import { PROGRAMS } from '../../src/programs/index.js';
import { CLANG_FIXTURES, fixtureBytes, mapsAndCalls } from './support.js';

const SEED = 0x5eed_e1f;
const TRUNCATIONS = 300;
const FLIPS = 600;

/** mulberry32: a small, fast, seeded 32-bit generator. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const inputs: [string, Uint8Array][] = [
  ...CLANG_FIXTURES.map((name) => [`${name}.o`, fixtureBytes(name)] as [string, Uint8Array]),
  ['xdp-dns-forward (bpfgen)', writeObject([PROGRAMS['xdp-dns-forward']!.build()])],
  ['maps_calls (bpfgen)', writeObject([mapsAndCalls()])],
];

interface Outcome {
  read: number;
  refused: number;
}

/** Read a damaged object; anything but success or ElfError fails the test with what was done to the input. */
function attempt(damaged: Uint8Array, what: string, outcome: Outcome): void {
  try {
    readObject(damaged, { file: 'fuzzed.o' });
    outcome.read++;
  } catch (error) {
    if (!(error instanceof ElfError)) throw new Error(`${what}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`, { cause: error });
    expect(error.message, what).toMatch(/^fuzzed\.o: /);
    outcome.refused++;
  }
}

describe.each(inputs)('reading damaged copies of %s', (name, original) => {
  it(`${TRUNCATIONS} truncations: every prefix shorter than the section table is refused, others read or are refused`, () => {
    const next = random(SEED ^ original.byteLength);
    const outcome = { read: 0, refused: 0 };
    for (let i = 0; i < TRUNCATIONS; i++) {
      // Half anywhere, half in the first 256 bytes where the headers are.
      const length = i % 2 === 0 ? Math.floor(next() * original.byteLength) : Math.floor(next() * Math.min(256, original.byteLength));
      attempt(original.subarray(0, length), `${name} truncated to ${length} bytes`, outcome);
    }
    // ELF keeps its section table at the end, so no truncation leaves a readable object.
    expect(outcome).toEqual({ read: 0, refused: TRUNCATIONS });
  });

  it(`${FLIPS} copies with 1-8 flipped bits: each reads or gives an ElfError`, () => {
    const next = random(SEED ^ (original.byteLength * 31));
    const outcome = { read: 0, refused: 0 };
    for (let i = 0; i < FLIPS; i++) {
      const damaged = Uint8Array.from(original);
      const flips = 1 + Math.floor(next() * 8);
      const bits: number[] = [];
      for (let f = 0; f < flips; f++) {
        const bit = Math.floor(next() * original.byteLength * 8);
        damaged[bit >> 3]! ^= 1 << (bit & 7);
        bits.push(bit);
      }
      attempt(damaged, `${name} with bits ${bits.join(', ')} flipped (seed 0x${SEED.toString(16)}, copy ${i})`, outcome);
    }
    console.log(`${name}: of ${FLIPS} bit-flipped copies ${outcome.read} read, ${outcome.refused} refused with an ElfError`);
    expect(outcome.refused).toBeGreaterThan(FLIPS / 10);
  });
});
