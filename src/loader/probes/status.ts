/**
 * What a probe answers, and the per-process cache of answers: a kernel does
 * not gain or lose features while a process runs, so each question goes to
 * the kernel once.
 */

export interface FeatureStatus {
  /** The name `probeFeature` and `requireFeature` take, e.g. `prog_type:xdp` or `helper:xdp:redirect_map`. */
  readonly name: string;
  /** What the feature is, for messages: `xdp programs`, `bpf_redirect_map in xdp programs`. */
  readonly description: string;
  readonly supported: boolean;
  /** The Linux release that introduced the feature, e.g. `5.9`. */
  readonly since: string;
  /** Why the feature is not available, from the kernel's answer; absent when it is. */
  readonly reason?: string;
}

const answers = new Map<string, FeatureStatus>();

/** The cached answer for `name`, probing on the first question. */
export function cachedProbe(name: string, probe: () => FeatureStatus): FeatureStatus {
  let status = answers.get(name);
  if (!status) {
    status = probe();
    answers.set(name, status);
  }
  return status;
}

export function available(name: string, description: string, since: string): FeatureStatus {
  return { name, description, supported: true, since };
}

export function unavailable(name: string, description: string, since: string, reason: string): FeatureStatus {
  return { name, description, supported: false, since, reason };
}
