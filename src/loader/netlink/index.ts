/** rtnetlink in TypeScript, and the XDP and tc attachments built on it. */
export { attribute, Attributes, decodeMessages, encodeMessage, NetlinkDecodeError, NlmFlags } from './message.js';
export type { Attribute, AttributeNames, NetlinkMessage, RequestHeader } from './message.js';
export { NetlinkError, NetlinkSocket, withRouteSocket } from './socket.js';
export type { NetlinkRequest } from './socket.js';
export { getLink, setLinkXdp, XdpFlags } from './link.js';
export type { LinkInfo, XdpAttachedName, XdpSetting, XdpState } from './link.js';
export { attachXdpNetlink, detachXdpNetlink, queryXdp, XdpNetlinkAttachment } from '../xdp-netlink.js';
export type { XdpDetachOptions, XdpNetlinkOptions, XdpQuery } from '../xdp-netlink.js';
export { clsactParent, createClsact, deleteBpfFilter, deleteClsact, listFilters, listQdiscs, setBpfFilter, TCA_BPF_FLAG_ACT_DIRECT } from './tc.js';
export type { BpfFilterSetting, FilterAddress, QdiscInfo, TcDirection, TcFilterInfo } from './tc.js';
export { attachTcFilter, detachTcFilter, ensureClsact, listTcFilters, removeClsactIfCreated, TcFilterAttachment } from '../tc-netlink.js';
export type { ClsactState, TcDetachOptions, TcFilterOptions } from '../tc-netlink.js';
