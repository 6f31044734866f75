/**
 * Netlink messages (linux/netlink.h): a 16-byte nlmsghdr, a family header
 * (ifinfomsg, tcmsg), then attributes: 4-byte header (length, type), value,
 * padding to 4 bytes. A nested attribute holds further attributes as its
 * value. Fields are in host byte order.
 *
 * Decoding trusts nothing: every length is checked against the bytes that
 * hold it, and a value is read only at the size its type has, so a
 * truncated or malformed reply becomes a NetlinkDecodeError naming where.
 */
import { cString, NATIVE_LITTLE_ENDIAN } from '../attr.js';

export const NLMSG_HDRLEN = 16;
const NLA_HDRLEN = 4;
/** Attribute type bits that are flags, not part of the type number. */
const NLA_F_NESTED = 0x8000;
const NLA_F_NET_BYTEORDER = 0x4000;
const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

/** Control message types, below NLMSG_MIN_TYPE (0x10). */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

/** nlmsg_flags. The meaning of 0x100-0x800 depends on the request: GET, NEW or DEL. */
export const NlmFlags = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  DUMP_INTR: 0x10,
  /** GET: all objects (NLM_F_ROOT | NLM_F_MATCH). */
  DUMP: 0x300,
  /** NEW: override an existing object. */
  REPLACE: 0x100,
  /** NEW: fail if the object exists. */
  EXCL: 0x200,
  /** NEW: create the object if it does not exist. */
  CREATE: 0x400,
  /** On NLMSG_ERROR: the request was not echoed back (NETLINK_CAP_ACK). */
  CAPPED: 0x100,
  /** On NLMSG_ERROR and NLMSG_DONE: extended-ack attributes follow. */
  ACK_TLVS: 0x200,
} as const;

export const align4 = (length: number): number => (length + 3) & ~3;

/** A reply that does not parse: its bytes contradict the lengths they declare. */
export class NetlinkDecodeError extends Error {
  constructor(
    /** What was being decoded, e.g. "RTM_NEWLINK reply". */
    readonly where: string,
    readonly detail: string,
  ) {
    super(`malformed netlink ${where}: ${detail}`);
    this.name = 'NetlinkDecodeError';
  }
}

/** An attribute to encode: a value, or attributes nested inside it. */
export type Attribute = { readonly type: number; readonly value: Uint8Array } | { readonly type: number; readonly nested: readonly Attribute[] };

function scalar(type: number, size: number, write: (view: DataView) => void): Attribute {
  const value = new Uint8Array(size);
  write(new DataView(value.buffer));
  return { type, value };
}

/** Constructors of attributes by value type. */
export const attribute = {
  u32: (type: number, value: number): Attribute => scalar(type, 4, (view) => view.setUint32(0, value, NATIVE_LITTLE_ENDIAN)),
  s32: (type: number, value: number): Attribute => scalar(type, 4, (view) => view.setInt32(0, value, NATIVE_LITTLE_ENDIAN)),
  /** NUL-terminated, as the kernel's NLA_STRING and NLA_NUL_STRING policies accept. */
  string: (type: number, value: string): Attribute => ({ type, value: cString(value) }),
  nested: (type: number, children: readonly Attribute[]): Attribute => ({ type, nested: children }),
};

function encodedSize(attributes: readonly Attribute[]): number {
  return attributes.reduce((total, each) => total + align4(NLA_HDRLEN + valueSize(each)), 0);
}

function valueSize(each: Attribute): number {
  return 'value' in each ? each.value.byteLength : encodedSize(each.nested);
}

function writeAttributes(attributes: readonly Attribute[], out: Uint8Array, start: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let offset = start;
  for (const each of attributes) {
    const length = NLA_HDRLEN + valueSize(each);
    if (length > 0xffff) throw new RangeError(`netlink attribute ${each.type} is ${length} bytes; an attribute holds at most 65535`);
    view.setUint16(offset, length, NATIVE_LITTLE_ENDIAN);
    if ('value' in each) {
      view.setUint16(offset + 2, each.type, NATIVE_LITTLE_ENDIAN);
      out.set(each.value, offset + NLA_HDRLEN);
    } else {
      view.setUint16(offset + 2, each.type | NLA_F_NESTED, NATIVE_LITTLE_ENDIAN);
      writeAttributes(each.nested, out, offset + NLA_HDRLEN);
    }
    offset += align4(length);
  }
}

export interface RequestHeader {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
}

/** nlmsghdr, the family header (padded), then the attributes. The port id is left 0: the kernel fills it in. */
export function encodeMessage(header: RequestHeader, familyHeader: Uint8Array, attributes: readonly Attribute[] = []): Uint8Array {
  const attributesAt = NLMSG_HDRLEN + align4(familyHeader.byteLength);
  const out = new Uint8Array(attributesAt + encodedSize(attributes));
  const view = new DataView(out.buffer);
  view.setUint32(0, out.byteLength, NATIVE_LITTLE_ENDIAN);
  view.setUint16(4, header.type, NATIVE_LITTLE_ENDIAN);
  view.setUint16(6, header.flags, NATIVE_LITTLE_ENDIAN);
  view.setUint32(8, header.seq, NATIVE_LITTLE_ENDIAN);
  out.set(familyHeader, NLMSG_HDRLEN);
  writeAttributes(attributes, out, attributesAt);
  return out;
}

export interface NetlinkMessage {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly pid: number;
  /** Everything after nlmsghdr: the family header and attributes, or a control message's body. */
  readonly payload: Uint8Array;
}

/** Split one datagram into its messages. */
export function decodeMessages(datagram: Uint8Array, where: string): NetlinkMessage[] {
  const view = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const messages: NetlinkMessage[] = [];
  let offset = 0;
  while (offset < datagram.byteLength) {
    const left = datagram.byteLength - offset;
    if (left < NLMSG_HDRLEN) throw new NetlinkDecodeError(where, `${left} bytes at offset ${offset} are too few for a ${NLMSG_HDRLEN}-byte message header`);
    const length = view.getUint32(offset, NATIVE_LITTLE_ENDIAN);
    if (length < NLMSG_HDRLEN) throw new NetlinkDecodeError(where, `the message at offset ${offset} declares ${length} bytes, less than its own header`);
    if (length > left) throw new NetlinkDecodeError(where, `the message at offset ${offset} declares ${length} bytes but only ${left} arrived`);
    messages.push({
      type: view.getUint16(offset + 4, NATIVE_LITTLE_ENDIAN),
      flags: view.getUint16(offset + 6, NATIVE_LITTLE_ENDIAN),
      seq: view.getUint32(offset + 8, NATIVE_LITTLE_ENDIAN),
      pid: view.getUint32(offset + 12, NATIVE_LITTLE_ENDIAN),
      payload: datagram.subarray(offset + NLMSG_HDRLEN, offset + length),
    });
    offset += align4(length);
  }
  return messages;
}

/** Attribute type numbers by name, e.g. { IFLA_XDP_FD: 1, … }, for messages that name them. */
export type AttributeNames = Readonly<Record<string, number>>;

/** Decoded attributes, read by type with the size each type requires. */
export class Attributes {
  readonly #values = new Map<number, Uint8Array>();
  readonly #names: ReadonlyMap<number, string>;

  private constructor(
    /** What holds these attributes, e.g. "RTM_NEWLINK reply" or "RTM_NEWLINK reply > IFLA_XDP". */
    readonly where: string,
    names: AttributeNames,
  ) {
    this.#names = new Map(Object.entries(names).map(([name, type]) => [type, name]));
  }

  static decode(bytes: Uint8Array, where: string, names: AttributeNames): Attributes {
    const attributes = new Attributes(where, names);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let offset = 0;
    while (offset < bytes.byteLength) {
      const left = bytes.byteLength - offset;
      if (left < NLA_HDRLEN) throw new NetlinkDecodeError(where, `${left} bytes at attribute offset ${offset} are too few for an attribute header`);
      const length = view.getUint16(offset, NATIVE_LITTLE_ENDIAN);
      const type = view.getUint16(offset + 2, NATIVE_LITTLE_ENDIAN) & NLA_TYPE_MASK;
      if (length < NLA_HDRLEN) throw new NetlinkDecodeError(where, `attribute ${attributes.#name(type)} at offset ${offset} declares ${length} bytes, less than its header`);
      if (length > left) throw new NetlinkDecodeError(where, `attribute ${attributes.#name(type)} at offset ${offset} declares ${length} bytes but only ${left} remain`);
      // Each type appears once in the messages read here; should one repeat, the first counts.
      if (!attributes.#values.has(type)) attributes.#values.set(type, bytes.subarray(offset + NLA_HDRLEN, offset + length));
      offset += align4(length);
    }
    return attributes;
  }

  bytes(type: number): Uint8Array | undefined {
    return this.#values.get(type);
  }

  u8(type: number): number | undefined {
    return this.#sized(type, 1)?.getUint8(0);
  }

  u32(type: number): number | undefined {
    return this.#sized(type, 4)?.getUint32(0, NATIVE_LITTLE_ENDIAN);
  }

  /** A NUL-terminated string; the NUL must be there. */
  string(type: number): string | undefined {
    const value = this.#values.get(type);
    if (value === undefined) return undefined;
    const end = value.indexOf(0);
    if (end < 0) throw new NetlinkDecodeError(this.where, `string attribute ${this.#name(type)} has no terminating NUL`);
    return new TextDecoder().decode(value.subarray(0, end));
  }

  nested(type: number, names: AttributeNames): Attributes | undefined {
    const value = this.#values.get(type);
    return value === undefined ? undefined : Attributes.decode(value, `${this.where} > ${this.#name(type)}`, names);
  }

  #sized(type: number, size: number): DataView | undefined {
    const value = this.#values.get(type);
    if (value === undefined) return undefined;
    if (value.byteLength !== size) throw new NetlinkDecodeError(this.where, `attribute ${this.#name(type)} has ${value.byteLength} bytes where ${size} were expected`);
    return new DataView(value.buffer, value.byteOffset, value.byteLength);
  }

  #name(type: number): string {
    return this.#names.get(type) ?? `type ${type}`;
  }
}

/** The family header at the start of a payload, checked for length; the attributes follow it, aligned. */
export function splitPayload(payload: Uint8Array, headerSize: number, where: string): { header: DataView; attributes: Uint8Array } {
  if (payload.byteLength < headerSize) throw new NetlinkDecodeError(where, `${payload.byteLength} bytes of payload are too few for its ${headerSize}-byte header`);
  return {
    header: new DataView(payload.buffer, payload.byteOffset, headerSize),
    attributes: payload.subarray(Math.min(align4(headerSize), payload.byteLength)),
  };
}

/** enum nlmsgerr_attrs: what an extended ack carries. */
const NlmsgerrAttr = { NLMSGERR_ATTR_MSG: 1 } as const;

/**
 * The status an NLMSG_ERROR or NLMSG_DONE carries: a negated errno (0 for
 * success), then, for NLMSG_ERROR, the header of our request (all of the
 * request unless the kernel capped it), then any extended-ack attributes.
 */
export function decodeStatus(message: NetlinkMessage, where: string): { errno: number; kernelMessage?: string } {
  const { payload } = message;
  const isError = message.type === NLMSG_ERROR;
  if (!isError && message.type !== NLMSG_DONE) throw new TypeError(`message type ${message.type} carries no status`);
  if (!isError && payload.byteLength === 0) return { errno: 0 };
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const statusSize = isError ? 4 + NLMSG_HDRLEN : 4;
  const kind = isError ? 'NLMSG_ERROR' : 'NLMSG_DONE';
  if (payload.byteLength < statusSize) throw new NetlinkDecodeError(where, `${kind} has ${payload.byteLength} bytes, fewer than the ${statusSize} it must carry`);
  const status = view.getInt32(0, NATIVE_LITTLE_ENDIAN);
  if (status > 0) throw new NetlinkDecodeError(where, `${kind} carries ${status}, where 0 or a negated errno belongs`);
  const errno = Math.abs(status);
  if ((message.flags & NlmFlags.ACK_TLVS) === 0) return { errno };
  let extAckAt = statusSize;
  if (isError && (message.flags & NlmFlags.CAPPED) === 0) {
    const echoed = view.getUint32(4, NATIVE_LITTLE_ENDIAN);
    if (echoed < NLMSG_HDRLEN || 4 + align4(echoed) > payload.byteLength) {
      throw new NetlinkDecodeError(where, `NLMSG_ERROR echoes a request of ${echoed} bytes in a ${payload.byteLength}-byte payload`);
    }
    extAckAt = 4 + align4(echoed);
  }
  const extAck = Attributes.decode(payload.subarray(extAckAt), `${where} > extended ack`, NlmsgerrAttr);
  const kernelMessage = extAck.string(NlmsgerrAttr.NLMSGERR_ATTR_MSG);
  return kernelMessage ? { errno, kernelMessage } : { errno };
}
