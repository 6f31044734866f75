export { possibleCpus, codecs, createMap, openPinnedMap, BpfMap, PerCpuMap, RingBufferMap, MapHandle, MapDefinitionError } from './maps.js';
export type { AnyMap, Codec, MapCodecs } from './maps.js';
export { loadProgram, openPinnedProgram, Program } from './program.js';
export type { LoadOptions, TestRunOptions, TestRunResult } from './program.js';
export { attachXdp, createLink, interfaceIndex, Link } from './link.js';
export { openPacketSocket, PacketSocket, PacketSocketError } from './packet-socket.js';
export type { CapturedFrame, PacketSocketOptions, PacketSocketStats, PacketType } from './packet-socket.js';
export type { LinkOptions } from './link.js';
export { programInfo, mapInfo, programIds, mapIds, openProgramById, openMapById, xlatedInstructions } from './info.js';
export type { ProgramInfo, MapInfo } from './info.js';
export {
  BpfError,
  FeatureError,
  NativeUnavailableError,
  PermissionError,
  RelocationError,
  VerifierError,
  parseVerifierLog,
} from './errors.js';
export type { VerifierVerdict } from './errors.js';
export { native, nativeUnavailableReason } from './native.js';
export type { NativeShim } from './native.js';
export { bpfCall, bpfFd, OwnedFd } from './syscall.js';
export * as attr from './attr.js';
export { AttachType, MapTypeValue, ProgramTypeValue, XdpMode } from './uapi.js';
export type { AttachTypeName, UpdateMode, XdpModeName } from './uapi.js';
export * from './probes/index.js';
export * from './netlink/index.js';
export { attachTcx } from './tcx.js';
export { ATTACHABLE, attachableNamed, detachInterface, detachPinned } from './attachment.js';
export type { Attachment, AttachableProgram } from './attachment.js';
export { attachDnsForward, DnsForward } from './dns-forward.js';
export type { DnsForwardConfigMode, DnsForwardInfo, DnsForwardOptions, DnsForwardSettings } from './dns-forward.js';
export { attachDnsRedirect, DnsRedirect, RouteLocalnetError } from './dns-redirect.js';
export type { DnsRedirectInfo, DnsRedirectOptions, DnsRedirectSettings } from './dns-redirect.js';
export { loadObject, LoadedObject, type LoadObjectOptions } from './object.js';
