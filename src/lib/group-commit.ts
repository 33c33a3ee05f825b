/**
 * Group commit, a leaf utility with no imports that any layer may use: calls that arrive
 * while a flush is running wait and are flushed together by the next one. The CA's
 * durable steps (a serial from the `serial` file, a signed certificate with its inventory
 * line and index record, a stored request) each cost a lock and several fsyncs whatever
 * their size; under load, doing them once per batch instead of once per certificate is
 * what lets the store keep up with both cores signing. With a single caller a batch holds
 * one item, so nothing waits that would not have waited before. The same shape serves
 * reads: callers that arrive during an index refresh share the next one, which starts
 * after they arrived, so each still sees everything written before its call.
 */
export class GroupCommit<T, R> {
  private queue: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private running = false;
  /** Set while a flush waits for more items (gather). */
  private waiting?: () => void;

  /**
   * `flush` gets the items in arrival order and returns one result per item, in the same order.
   * `gather`, when given, says how many items a flush should wait for (0: none), and for at most
   * how long: a bulk caller that knows more items are coming soon (sign --all) gets one batch of
   * them instead of a batch per item, each with its fixed cost.
   */
  constructor(
    private readonly flush: (items: T[]) => Promise<R[]>,
    private readonly maxBatch = 64,
    private readonly gather?: () => { atLeast: number; maxWaitMs: number },
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (!this.running) void this.drain();
      else this.waiting?.();
    });
  }

  /** Lets a waiting flush look again at whether it has gathered enough (the caller's count changed). */
  recheck(): void {
    this.waiting?.();
  }

  private gathered(): Promise<void> | undefined {
    const want = this.gather?.();
    if (!want || this.queue.length >= Math.min(want.atLeast, this.maxBatch)) return undefined;
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting = undefined;
        resolve();
      };
      const timer = setTimeout(done, want.maxWaitMs);
      this.waiting = () => {
        const now = this.gather?.();
        if (!now || this.queue.length >= Math.min(now.atLeast, this.maxBatch)) done();
      };
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const gathering = this.gathered();
        if (gathering) await gathering;
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const results = await this.flush(batch.map((b) => b.item));
          batch.forEach((b, i) => b.resolve(results[i]!));
        } catch (e) {
          for (const b of batch) b.reject(e);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
