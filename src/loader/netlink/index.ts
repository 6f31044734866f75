/**
 * rtnetlink in TypeScript, and the XDP and tc attachments built on it. The
 * message, link and tc modules of this directory are the lower level, for
 * code that needs other requests.
 */
export { NetlinkDecodeError } from './message.js';
export { NetlinkError, NetlinkSocket, withRouteSocket } from './socket.js';
export type { NetlinkRequest } from './socket.js';
export type { XdpAttachedName } from './link.js';
export type { TcDirection, TcFilterInfo } from './tc.js';
export { attachXdpNetlink, detachXdpNetlink, queryXdp, XdpNetlinkAttachment } from '../xdp-netlink.js';
export type { XdpDetachOptions, XdpNetlinkOptions, XdpQuery } from '../xdp-netlink.js';
export { attachTcFilter, detachTcFilter, ensureClsact, listTcFilters, removeClsactIfCreated, TcFilterAttachment } from '../tc-netlink.js';
export type { ClsactState, TcDetachOptions, TcFilterOptions } from '../tc-netlink.js';
