/**
 * A reader for the classic libpcap file format (not pcapng): a 24-byte file
 * header, then records of a 16-byte header and the captured bytes. The
 * magic number gives the writer's byte order and whether timestamps count
 * microseconds (0xa1b2c3d4) or nanoseconds (0xa1b23c4d).
 */

const FILE_HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 16;
/** Larger records are corruption, as in libpcap and Wireshark (their limit for Ethernet captures). */
const MAX_RECORD_BYTES = 262_144;
const PCAPNG_SECTION_MAGIC = 0x0a0d0d0a;

const MAGICS: ReadonlyMap<number, { littleEndian: boolean; nanoseconds: boolean }> = new Map([
  [0xa1b2c3d4, { littleEndian: true, nanoseconds: false }],
  [0xd4c3b2a1, { littleEndian: false, nanoseconds: false }],
  [0xa1b23c4d, { littleEndian: true, nanoseconds: true }],
  [0x4d3cb2a1, { littleEndian: false, nanoseconds: true }],
]);

/** LINKTYPE_ values (tcpdump.org/linktypes.html) that captures commonly have, to name them in errors. */
const LINK_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [0, 'BSD loopback'],
  [1, 'Ethernet'],
  [101, 'raw IP'],
  [105, 'IEEE 802.11'],
  [113, 'Linux cooked capture (tcpdump -i any)'],
  [127, 'IEEE 802.11 radiotap'],
  [276, 'Linux cooked capture v2 (tcpdump -i any)'],
]);
export const LINKTYPE_ETHERNET = 1;

export interface PcapRecord {
  /** 1-based, as Wireshark and `tcpdump -#` number packets. */
  readonly number: number;
  /** Byte offset of the record header in the file. */
  readonly offset: number;
  readonly seconds: number;
  /** Microseconds or nanoseconds, per the file's magic. */
  readonly fraction: number;
  readonly data: Uint8Array;
  /** Length on the wire; more than `data.length` when the capture cut the packet short (snaplen). */
  readonly originalLength: number;
}

export interface PcapFile {
  readonly littleEndian: boolean;
  readonly nanoseconds: boolean;
  readonly version: string;
  readonly snapLength: number;
  /** LINKTYPE_ value (the low 16 bits of the header's link-layer field; the high bits describe FCS). */
  readonly linkType: number;
  readonly records: readonly PcapRecord[];
  /** Why reading stopped before the end of the file, when it did: the records before it are intact. */
  readonly damage?: string;
}

/** Thrown for a file that is not a classic pcap at all; `message` starts with where it is. */
export class PcapFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PcapFormatError';
  }
}

/** Parse a whole pcap file held in memory; `where` names it in errors ("--pcap capture.pcap"). */
export function readPcap(bytes: Uint8Array, where: string): PcapFile {
  if (bytes.length === 0) throw new PcapFormatError(`${where}: the file is empty`);
  if (bytes.length < 4) throw new PcapFormatError(`${where}: ${bytes.length} bytes is too short for a pcap file header (${FILE_HEADER_BYTES} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  if (magic === PCAPNG_SECTION_MAGIC) {
    throw new PcapFormatError(`${where}: this is a pcapng file; convert it to classic pcap first (editcap -F pcap IN OUT, or tcpdump -r IN -w OUT)`);
  }
  const kind = MAGICS.get(magic);
  if (!kind) throw new PcapFormatError(`${where}: not a pcap file (magic 0x${magic.toString(16).padStart(8, '0')} at byte 0; expected a1b2c3d4 or a1b23c4d in either byte order)`);
  if (bytes.length < FILE_HEADER_BYTES) throw new PcapFormatError(`${where}: the file header is cut short (${bytes.length} of ${FILE_HEADER_BYTES} bytes)`);

  const le = kind.littleEndian;
  const major = view.getUint16(4, le);
  const minor = view.getUint16(6, le);
  if (major !== 2) throw new PcapFormatError(`${where}: pcap version ${major}.${minor} at byte 4 is not supported (only 2.x exists)`);
  const snapLength = view.getUint32(16, le);
  const linkType = view.getUint32(20, le) & 0xffff;

  const records: PcapRecord[] = [];
  let offset = FILE_HEADER_BYTES;
  let damage: string | undefined;
  while (offset < bytes.length) {
    const number = records.length + 1;
    const at = `packet ${number} (record at byte ${offset})`;
    if (bytes.length - offset < RECORD_HEADER_BYTES) {
      damage = `${at}: the record header is cut short (${bytes.length - offset} of ${RECORD_HEADER_BYTES} bytes; the file is truncated)`;
      break;
    }
    const capturedLength = view.getUint32(offset + 8, le);
    const originalLength = view.getUint32(offset + 12, le);
    if (capturedLength > MAX_RECORD_BYTES) {
      damage = `${at}: captured length ${capturedLength} is beyond ${MAX_RECORD_BYTES} bytes (the file is corrupt)`;
      break;
    }
    const dataStart = offset + RECORD_HEADER_BYTES;
    if (bytes.length - dataStart < capturedLength) {
      damage = `${at}: claims ${capturedLength} bytes but only ${bytes.length - dataStart} remain (the file is truncated)`;
      break;
    }
    records.push({
      number,
      offset,
      seconds: view.getUint32(offset, le),
      fraction: view.getUint32(offset + 4, le),
      data: bytes.subarray(dataStart, dataStart + capturedLength),
      originalLength,
    });
    offset = dataStart + capturedLength;
  }
  return { littleEndian: le, nanoseconds: kind.nanoseconds, version: `${major}.${minor}`, snapLength, linkType, records, ...(damage ? { damage } : {}) };
}

export function linkTypeName(linkType: number): string {
  return LINK_TYPE_NAMES.get(linkType) ?? `link type ${linkType}`;
}
