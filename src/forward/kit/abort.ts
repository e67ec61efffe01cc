// A child abort signal with an optional deadline, released explicitly. Used instead of
// AbortSignal.any([parent, AbortSignal.timeout(ms)]): in Node 20 the timeout signal inside `any` can be garbage
// collected before it fires (nodejs/node#57736), and composites of a long-lived parent pile up in a loop.

export interface LinkedSignal {
  readonly signal: AbortSignal;
  /** True when the deadline (not the parent) aborted it. */
  timedOut(): boolean;
  /** Detaches from the parent and clears the timer; call it when the operation is over. */
  dispose(): void;
}

export function linkedSignal(parent: AbortSignal, timeoutMs?: number): LinkedSignal {
  const ctl = new AbortController();
  let timedOut = false;
  const onParent = () => ctl.abort(parent.reason);
  let timer: NodeJS.Timeout | undefined;
  if (parent.aborted) ctl.abort(parent.reason);
  else {
    parent.addEventListener('abort', onParent, { once: true });
    if (timeoutMs !== undefined) {
      timer = setTimeout(
        () => {
          timedOut = true;
          ctl.abort(new DOMException('The operation timed out.', 'TimeoutError'));
        },
        Math.max(0, timeoutMs),
      );
    }
  }
  return {
    signal: ctl.signal,
    timedOut: () => timedOut,
    dispose: () => {
      parent.removeEventListener('abort', onParent);
      if (timer) clearTimeout(timer);
    },
  };
}
