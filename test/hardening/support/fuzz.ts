/**
 * Running frames through a loaded program with BPF_PROG_TEST_RUN and
 * judging each against a model: a legal verdict for the program type, the
 * model's verdict, the model's output byte for byte, and for rewritten
 * frames that were well-formed, checksums that a full recomputation accepts.
 *
 * Mismatches are collected rather than asserted one by one (an expect per
 * frame would cost more than the test run), and the report says how many
 * frames of each kind ran, so a test can also check that the interesting
 * paths were reached.
 */
import { BpfError, type Program } from '../../../src/loader/index.js';
import { hexDump, PacketParseError, parseFrame, UDP_HEADER_BYTES } from '../../support/packets.js';
import type { FuzzFrame } from './frames.js';
import type { ProgramModel } from './models.js';
import { isLegalAction, type PacketProgramType } from './uapi-actions.js';

export interface FuzzReport {
  readonly runs: number;
  /** Frames the kernel refused to run, as the model predicted. */
  readonly refused: number;
  /** Frames the program acted on (rewrote, or kept) as the model predicted. */
  readonly acted: number;
  /** Rewritten frames whose checksums were also recomputed in full and found valid. */
  readonly checksumsRecomputed: number;
  readonly kinds: ReadonlyMap<string, number>;
  /** The first few mismatches, described in full. */
  readonly failures: readonly string[];
  readonly failureCount: number;
}

const FAILURES_SHOWN = 5;
const EINVAL = 22;

/**
 * Both checksums of a complete, well-formed IPv4/UDP frame verify (a UDP
 * checksum of 0, "none", counts as valid); undefined for frames that are
 * not one, such as a UDP length shorter than the UDP header, over which a
 * checksum can hold by coincidence.
 */
function checksumsValid(frame: Uint8Array): boolean | undefined {
  try {
    const parsed = parseFrame(frame);
    if (!parsed.ipv4 || !parsed.udp || parsed.udp.length < UDP_HEADER_BYTES) return undefined;
    return parsed.ipv4.checksumValid && parsed.udp.checksumValid !== false;
  } catch (error) {
    if (error instanceof PacketParseError) return undefined;
    throw error;
  }
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return i;
  return a.byteLength === b.byteLength ? -1 : length;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return firstDifference(a, b) === -1;
}

export class FuzzRun {
  #runs = 0;
  #refused = 0;
  #acted = 0;
  #checksumsRecomputed = 0;
  readonly #kinds = new Map<string, number>();
  readonly #failures: string[] = [];
  #failureCount = 0;

  constructor(
    private readonly program: Program,
    private readonly type: PacketProgramType,
    private readonly model: ProgramModel,
    /** Names the seed and configuration in failure messages, so that a failure can be replayed. */
    private readonly context: string,
  ) {}

  #fail(index: number, frame: FuzzFrame, problem: string, detail: string): void {
    this.#failureCount++;
    if (this.#failures.length < FAILURES_SHOWN) {
      this.#failures.push(`${this.context}, frame #${index} (${frame.kind}, ${frame.bytes.byteLength} bytes): ${problem}\ninput:\n${hexDump(frame.bytes)}\n${detail}`);
    }
  }

  run(frames: Iterable<FuzzFrame>): void {
    for (const frame of frames) this.runOne(frame);
  }

  runOne(frame: FuzzFrame): void {
    const index = this.#runs++;
    this.#kinds.set(frame.kind, (this.#kinds.get(frame.kind) ?? 0) + 1);
    const expected = this.model.expect(frame.bytes);
    let result;
    try {
      // The programs never grow a frame, so the output buffer is exactly its size.
      result = this.program.testRun(frame.bytes, { extraRoom: 0 });
    } catch (error) {
      if (expected.refused && error instanceof BpfError && error.errno === EINVAL) {
        this.#refused++;
        return;
      }
      this.#fail(index, frame, `the test run failed: ${error instanceof Error ? error.message : String(error)}`, '');
      return;
    }
    if (expected.refused) {
      this.#fail(index, frame, `the kernel ran a frame the model expects it to refuse (retval ${result.retval})`, '');
      return;
    }
    if (!isLegalAction(this.type, result.retval, frame.bytes.byteLength)) {
      this.#fail(index, frame, `retval ${result.retval} is not a legal ${this.type} verdict`, '');
      return;
    }
    if (result.retval !== expected.retval) {
      this.#fail(index, frame, `retval ${result.retval}, expected ${expected.retval}`, `output:\n${hexDump(result.data)}`);
      return;
    }
    if (!sameBytes(result.data, expected.data)) {
      const at = firstDifference(result.data, expected.data);
      this.#fail(index, frame, `output differs from the model at byte ${at}`, `expected:\n${hexDump(expected.data)}\nactual:\n${hexDump(result.data)}`);
      return;
    }
    if (!expected.acted) return;
    this.#acted++;
    if (!expected.rewritten) return;
    // An independent judge of the checksums: full recomputation, for frames whose checksums were valid to begin with.
    if (checksumsValid(frame.bytes) === true) {
      if (checksumsValid(result.data) !== true) this.#fail(index, frame, 'a frame with valid checksums was rewritten to invalid ones', `output:\n${hexDump(result.data)}`);
      else this.#checksumsRecomputed++;
    }
  }

  report(): FuzzReport {
    return {
      runs: this.#runs,
      refused: this.#refused,
      acted: this.#acted,
      checksumsRecomputed: this.#checksumsRecomputed,
      kinds: this.#kinds,
      failures: this.#failures,
      failureCount: this.#failureCount,
    };
  }
}
