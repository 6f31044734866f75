/** Malformed BTF or `.BTF.ext` data, located by byte offset from the start of the blob. */
export class BtfError extends Error {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {
    super(`offset 0x${offset.toString(16)}: ${detail}`);
    this.name = 'BtfError';
  }
}
