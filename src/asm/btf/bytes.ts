/**
 * Little-endian byte access for the BTF and ELF codecs. The reader checks
 * every access against its bounds and reports a problem through the error
 * factory it was given, so that a truncated or corrupt input surfaces as the
 * format's own error (BtfError, ElfError) naming the offset, never as a
 * RangeError from a DataView.
 */

/** Builds the format's error for a problem at `offset` (relative to the reader's start). */
export type Complaint = (offset: number, detail: string) => Error;

export class ByteReader {
  readonly #view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    private readonly complain: Complaint,
  ) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.byteLength;
  }

  fail(offset: number, detail: string): never {
    throw this.complain(offset, detail);
  }

  /** Check that `size` bytes at `offset` lie inside the input; `what` names them in the error. */
  need(offset: number, size: number, what: string): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || offset < 0 || size < 0 || offset + size > this.length) {
      this.fail(offset, `${what} (${size} bytes) runs past the end of the data (${this.length} bytes)`);
    }
  }

  u8(offset: number, what: string): number {
    this.need(offset, 1, what);
    return this.#view.getUint8(offset);
  }

  u16(offset: number, what: string): number {
    this.need(offset, 2, what);
    return this.#view.getUint16(offset, true);
  }

  u32(offset: number, what: string): number {
    this.need(offset, 4, what);
    return this.#view.getUint32(offset, true);
  }

  i32(offset: number, what: string): number {
    this.need(offset, 4, what);
    return this.#view.getInt32(offset, true);
  }

  /** A 64-bit field that must fit in a JavaScript number (offsets and sizes). */
  u64(offset: number, what: string): number {
    this.need(offset, 8, what);
    const value = this.#view.getBigUint64(offset, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(offset, `${what} is 0x${value.toString(16)}, far beyond any file`);
    return Number(value);
  }

  /** `size` bytes at `offset`, as a view into the input. */
  slice(offset: number, size: number, what: string): Uint8Array {
    this.need(offset, size, what);
    return this.bytes.subarray(offset, offset + size);
  }

  /** The NUL-terminated string at `offset` within [start, end). */
  cString(offset: number, start: number, end: number, what: string): string {
    if (!Number.isSafeInteger(offset) || offset < start || offset >= end) {
      this.fail(offset, `${what} at offset ${offset} is outside its string table (${end - start} bytes)`);
    }
    const nul = this.bytes.subarray(offset, end).indexOf(0);
    if (nul < 0) this.fail(offset, `${what} at offset ${offset} is not NUL-terminated within its string table`);
    return utf8.decode(this.bytes.subarray(offset, offset + nul));
  }
}

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** A growable little-endian output buffer. */
export class ByteWriter {
  #bytes = new Uint8Array(256);
  #view = new DataView(this.#bytes.buffer);
  #length = 0;

  get length(): number {
    return this.#length;
  }

  /** Grow by `size` bytes and return where they start; the view is replaced on growth, so read it only after this. */
  #reserve(size: number): number {
    const at = this.#length;
    if (at + size > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(this.#bytes.length * 2, at + size));
      grown.set(this.#bytes.subarray(0, at));
      this.#bytes = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#length += size;
    return at;
  }

  u8(value: number): this {
    const at = this.#reserve(1);
    this.#view.setUint8(at, value);
    return this;
  }

  u16(value: number): this {
    const at = this.#reserve(2);
    this.#view.setUint16(at, value, true);
    return this;
  }

  u32(value: number): this {
    const at = this.#reserve(4);
    this.#view.setUint32(at, value >>> 0, true);
    return this;
  }

  i32(value: number): this {
    const at = this.#reserve(4);
    this.#view.setInt32(at, value, true);
    return this;
  }

  u64(value: number | bigint): this {
    const at = this.#reserve(8);
    this.#view.setBigUint64(at, BigInt(value), true);
    return this;
  }

  bytes(data: Uint8Array): this {
    const at = this.#reserve(data.byteLength);
    this.#bytes.set(data, at);
    return this;
  }

  /** Zero bytes up to the next multiple of `alignment`. */
  align(alignment: number): this {
    const padding = (alignment - (this.#length % alignment)) % alignment;
    this.#reserve(padding);
    return this;
  }

  /** Overwrite a u32 written earlier (a size or offset known only later). */
  patchU32(at: number, value: number): void {
    this.#view.setUint32(at, value >>> 0, true);
  }

  finish(): Uint8Array {
    return this.#bytes.slice(0, this.#length);
  }
}

/**
 * A string table as BTF and ELF use them: NUL-terminated strings after a
 * leading NUL, so that offset 0 is the empty string. Equal strings share
 * one offset.
 */
export class StringTable {
  readonly #offsets = new Map<string, number>([['', 0]]);
  readonly #parts: Uint8Array[] = [new Uint8Array(1)];
  #size = 1;

  add(text: string): number {
    const known = this.#offsets.get(text);
    if (known !== undefined) return known;
    const encoded = encoder.encode(`${text}\0`);
    const offset = this.#size;
    this.#parts.push(encoded);
    this.#size += encoded.byteLength;
    this.#offsets.set(text, offset);
    return offset;
  }

  get size(): number {
    return this.#size;
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.#size);
    let at = 0;
    for (const part of this.#parts) {
      out.set(part, at);
      at += part.byteLength;
    }
    return out;
  }
}
