/** The text form of a packet diff: one heading per layer, one line per field, `old → new` where it changed. */
import type { Field } from './decode.js';
import type { FieldChange, LayerChange, PacketDiff, PayloadChange } from './diff.js';

const ARROW = '→';
/** Differing payload offsets listed before "and N more". */
const LISTED_OFFSETS = 8;

function fieldText(field: Field | undefined): string {
  if (!field) return '(absent)';
  if (field.checksum === undefined || field.checksum === 'absent') return field.value;
  return `${field.value} (${field.checksum})`;
}

function changeText(change: FieldChange): string {
  const { before, after } = change;
  // A checksum that kept its value still shows whether it verifies on each side: the bytes it covers may have changed.
  if (before?.checksum && after?.checksum && before.value === after.value && before.checksum !== 'absent' && after.checksum !== 'absent') {
    return `${before.value} (${before.checksum} in, ${after.checksum} out)`;
  }
  if (!change.changed) return fieldText(before ?? after);
  return `${fieldText(before)} ${ARROW} ${fieldText(after)}`;
}

function layerHeading(layer: LayerChange): string {
  if (layer.presence === 'input') return `${layer.name} (input only)`;
  if (layer.presence === 'output') return `${layer.name} (output only)`;
  return layer.name;
}

function payloadText(payload: PayloadChange): string {
  const { beforeLength, afterLength, changedOffsets } = payload;
  if (beforeLength !== afterLength) return `${beforeLength} ${ARROW} ${afterLength} bytes`;
  if (changedOffsets.length === 0) return `${beforeLength} bytes, unchanged`;
  const listed = changedOffsets.slice(0, LISTED_OFFSETS).join(', ');
  const more = changedOffsets.length > LISTED_OFFSETS ? ` and ${changedOffsets.length - LISTED_OFFSETS} more` : '';
  return `${beforeLength} bytes, ${changedOffsets.length} changed (at payload offsets ${listed}${more})`;
}

export function renderDiff(diff: PacketDiff): string[] {
  const width = Math.max('payload'.length, ...diff.layers.flatMap((l) => l.fields.map((f) => f.name.length)));
  const lines: string[] = [];
  for (const layer of diff.layers) {
    lines.push(layerHeading(layer));
    for (const field of layer.fields) lines.push(`  ${field.name.padEnd(width)}  ${changeText(field)}`);
    for (const note of layer.notes) lines.push(`  (${note})`);
  }
  lines.push(`${'Payload'.padEnd(width + 2)}  ${payloadText(diff.payload)}`);
  return lines;
}
