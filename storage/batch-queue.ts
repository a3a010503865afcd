/** A FIFO the writer drains in batches: `push` is O(1) per item, `peek` copies at most one batch, `drop` is O(1) amortised. */
export interface BatchQueue<T> {
  /** Items queued and not yet dropped. */
  readonly size: number
  /** Appends items at the tail. */
  push(items: readonly T[]): void
  /** Up to `max` items after the first `skip`, oldest first, without removing them. */
  peek(max: number, skip?: number): T[]
  /** Removes the first `count` items (after they were written or rejected). */
  drop(count: number): void
  /** Removes everything; returns what was queued. */
  clear(): T[]
}

/** Compaction threshold: the consumed head is cut off once it is this long and at least half the array. */
const COMPACT_AT = 16_384

/** Builds an in-memory BatchQueue. */
export function createBatchQueue<T>(): BatchQueue<T> {
  let items: T[] = []
  let head = 0
  return {
    get size() {
      return items.length - head
    },
    push(batch) {
      for (let i = 0; i < batch.length; i++) items.push(batch[i] as T)
    },
    peek(max, skip = 0) {
      return items.slice(head + skip, head + skip + max)
    },
    drop(count) {
      head = Math.min(items.length, head + count)
      if (head === items.length) {
        items = []
        head = 0
      } else if (head >= COMPACT_AT && head * 2 >= items.length) {
        items = items.slice(head)
        head = 0
      }
    },
    clear() {
      const rest = items.slice(head)
      items = []
      head = 0
      return rest
    },
  }
}
