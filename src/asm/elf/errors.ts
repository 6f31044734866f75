/**
 * A problem with an ELF object: input that is not a valid eBPF object
 * (located by section and byte offset), or programs that cannot be written
 * as one.
 */
export class ElfError extends Error {
  constructor(
    readonly detail: string,
    /** Where: the section, and the byte offset within it (or within the file when no section is named). */
    readonly where: { readonly file?: string; readonly section?: string; readonly offset?: number } = {},
  ) {
    super(`${describe(where)}${detail}`);
    this.name = 'ElfError';
  }
}

function describe(where: ElfError['where']): string {
  const offset = where.offset === undefined ? undefined : `offset 0x${where.offset.toString(16)}`;
  const place = where.section !== undefined ? `section ${where.section}${offset ? ` at ${offset}` : ''}` : offset && `file ${offset}`;
  const parts = [where.file, place].filter((part): part is string => part !== undefined);
  return parts.length > 0 ? `${parts.join(': ')}: ` : '';
}
