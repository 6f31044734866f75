/**
 * What a program did to a packet: the decoded headers of the input and the
 * output paired layer by layer and field by field, and the bytes after the
 * headers compared.
 */
import { decodePacket, type Field, type Layer } from './decode.js';

export interface FieldChange {
  readonly name: string;
  /** Undefined when only the output has this field. */
  readonly before?: Field;
  /** Undefined when only the input has this field. */
  readonly after?: Field;
  /** The value or, for a checksum, its validity differs. */
  readonly changed: boolean;
}

export interface LayerChange {
  readonly name: string;
  /** `both` when input and output have this layer at the same depth. */
  readonly presence: 'both' | 'input' | 'output';
  readonly fields: readonly FieldChange[];
  readonly notes: readonly string[];
}

export interface PayloadChange {
  readonly beforeLength: number;
  readonly afterLength: number;
  /** Offsets within the payload of bytes that differ, over the length both have. */
  readonly changedOffsets: readonly number[];
}

export interface PacketDiff {
  readonly beforeLength: number;
  readonly afterLength: number;
  /** Bytes that differ over the length both packets have. */
  readonly bytesChanged: number;
  readonly layers: readonly LayerChange[];
  readonly payload: PayloadChange;
}

function differingOffsets(a: Uint8Array, b: Uint8Array): number[] {
  const offsets: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) offsets.push(i);
  return offsets;
}

function fieldChanged(before: Field | undefined, after: Field | undefined): boolean {
  return before?.value !== after?.value || before?.checksum !== after?.checksum;
}

function pairFields(before: readonly Field[], after: readonly Field[]): FieldChange[] {
  const afterByName = new Map(after.map((f) => [f.name, f]));
  const paired: FieldChange[] = before.map((b) => {
    const a = afterByName.get(b.name);
    return { name: b.name, before: b, ...(a ? { after: a } : {}), changed: fieldChanged(b, a) };
  });
  const beforeNames = new Set(before.map((f) => f.name));
  for (const a of after) if (!beforeNames.has(a.name)) paired.push({ name: a.name, after: a, changed: true });
  return paired;
}

function notes(...layers: (Layer | undefined)[]): string[] {
  return [...new Set(layers.flatMap((l) => (l?.note ? [l.note] : [])))];
}

/**
 * Layers pair up while both packets have the same protocol at the same
 * depth; from the first difference on, each side's remaining layers are
 * listed on their own.
 */
function pairLayers(before: readonly Layer[], after: readonly Layer[]): LayerChange[] {
  const changes: LayerChange[] = [];
  let depth = 0;
  for (; depth < Math.min(before.length, after.length) && before[depth]!.name === after[depth]!.name; depth++) {
    const b = before[depth]!;
    const a = after[depth]!;
    changes.push({ name: b.name, presence: 'both', fields: pairFields(b.fields, a.fields), notes: notes(b, a) });
  }
  for (const b of before.slice(depth)) {
    changes.push({ name: b.name, presence: 'input', fields: b.fields.map((f) => ({ name: f.name, before: f, changed: true })), notes: notes(b) });
  }
  for (const a of after.slice(depth)) {
    changes.push({ name: a.name, presence: 'output', fields: a.fields.map((f) => ({ name: f.name, after: f, changed: true })), notes: notes(a) });
  }
  return changes;
}

export function diffPackets(before: Uint8Array, after: Uint8Array): PacketDiff {
  const decodedBefore = decodePacket(before);
  const decodedAfter = decodePacket(after);
  const payloadBefore = before.subarray(decodedBefore.payloadOffset);
  const payloadAfter = after.subarray(decodedAfter.payloadOffset);
  return {
    beforeLength: before.length,
    afterLength: after.length,
    bytesChanged: differingOffsets(before, after).length,
    layers: pairLayers(decodedBefore.layers, decodedAfter.layers),
    payload: { beforeLength: payloadBefore.length, afterLength: payloadAfter.length, changedOffsets: differingOffsets(payloadBefore, payloadAfter) },
  };
}
