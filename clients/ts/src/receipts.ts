/// Delivery receipts (docs/api.md "confirmDelivery"): tells vigild which alert events were shown to
/// the person using this client. Batched (one call per hospital per `delayMs`, at most 100 ids
/// each, as the server allows), deduplicated (an id is confirmed once per client) and bounded
/// (at most `maxPending` ids wait per hospital, the oldest dropped first; the memory of confirmed
/// ids keeps the newest `maxRemembered`).
export interface ReceiptSender {
  (hospitalId: string, eventIds: string[]): Promise<unknown>;
}

export interface DeliveryConfirmerOptions {
  /// Collects ids this long before one call (default 250 ms).
  delayMs?: number;
  /// Ids waiting per hospital (default 500).
  maxPending?: number;
  /// Confirmed ids remembered for deduplication (default 5000).
  maxRemembered?: number;
}

const MAX_IDS_PER_CALL = 100;

export class DeliveryConfirmer {
  private readonly pending = new Map<string, string[]>();
  private readonly done = new Set<string>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly delayMs: number;
  private readonly maxPending: number;
  private readonly maxRemembered: number;

  constructor(private readonly send: ReceiptSender, opts: DeliveryConfirmerOptions = {}) {
    this.delayMs = opts.delayMs ?? 250;
    this.maxPending = opts.maxPending ?? 500;
    this.maxRemembered = opts.maxRemembered ?? 5000;
  }

  /// Queues `eventId` of `hospitalId` unless it was confirmed or queued already.
  confirm(hospitalId: string, eventId: string): void {
    const key = `${hospitalId}\n${eventId}`;
    if (this.done.has(key)) return;
    this.remember(key);
    const list = this.pending.get(hospitalId) ?? [];
    list.push(eventId);
    if (list.length > this.maxPending) list.splice(0, list.length - this.maxPending);
    this.pending.set(hospitalId, list);
    this.timer ??= setTimeout(() => this.flush(), this.delayMs);
  }

  /// Sends everything queued now.
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const all = [...this.pending];
    this.pending.clear();
    for (const [hospitalId, ids] of all) {
      for (let i = 0; i < ids.length; i += MAX_IDS_PER_CALL) {
        const chunk = ids.slice(i, i + MAX_IDS_PER_CALL);
        // A failed call forgets its ids, so a later render may confirm them again.
        this.send(hospitalId, chunk).catch(() => {
          for (const id of chunk) this.done.delete(`${hospitalId}\n${id}`);
        });
      }
    }
  }

  /// Drops what is queued (the client closes).
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private remember(key: string): void {
    this.done.add(key);
    if (this.done.size > this.maxRemembered) {
      const oldest = this.done.values().next().value;
      if (oldest !== undefined) this.done.delete(oldest);
    }
  }
}
