/**
 * The messages between the dns-forward tests and netns-worker.mjs, the
 * helper process they start inside their network namespace.
 */
import type { DnsForward, DnsForwardOptions, DnsForwardSettings } from '../../src/loader/dns-forward.js';

export type WorkerRequest =
  | { op: 'responder'; address: string; port: number; answers: Record<string, string> }
  | { op: 'sink'; address: string; port: number }
  | { op: 'received'; address: string; port: number }
  | { op: 'attach'; options: DnsForwardOptions }
  | { op: 'update'; changes: Partial<DnsForwardSettings> }
  | { op: 'swaps'; count: number; intervalMs: number }
  | { op: 'close' }
  | { op: 'release' }
  | { op: 'attachTimes'; options: DnsForwardOptions; rounds: number }
  | { op: 'sendFrames'; iface: string; frames: string[] }
  | { op: 'attachForeign'; iface: string }
  | { op: 'detachForeign' };

/** What a sink socket received: only datagrams whose checksum the kernel verified. */
export interface Datagram {
  readonly payload: string;
  readonly from: { readonly address: string; readonly port: number };
}

export interface AttachReply {
  readonly info: DnsForward['info'];
  readonly lines: readonly string[];
}
