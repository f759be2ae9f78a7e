import { GuestMemoryError } from '../errors.js';

interface Range {
  start: number;
  count: number;
}

/**
 * Hands out page-aligned ranges of guest-physical pages, first fit from the
 * lowest address, so a given sequence of calls always gives the same layout.
 * Freed ranges merge with their neighbours.
 */
export class GuestPageAllocator {
  private free: Range[];
  private readonly used = new Map<number, number>();

  constructor(
    readonly pageCount: number,
    readonly pageSize: number,
    firstPage = 0,
  ) {
    this.free = firstPage < pageCount ? [{ start: firstPage, count: pageCount - firstPage }] : [];
  }

  /** Allocates `pages` pages whose first page number is a multiple of `alignPages`. */
  allocPages(pages: number, alignPages = 1): number {
    if (!Number.isInteger(pages) || pages < 1) {
      throw new GuestMemoryError('BAD_ALLOC', `allocation of ${pages} pages: must be a whole number of at least 1`);
    }
    for (let k = 0; k < this.free.length; k++) {
      const r = this.free[k]!;
      const start = Math.ceil(r.start / alignPages) * alignPages;
      const lead = start - r.start;
      if (lead + pages > r.count) continue;
      const tail = r.count - lead - pages;
      const pieces: Range[] = [];
      if (lead > 0) pieces.push({ start: r.start, count: lead });
      if (tail > 0) pieces.push({ start: start + pages, count: tail });
      this.free.splice(k, 1, ...pieces);
      this.used.set(start, pages);
      return start;
    }
    throw new GuestMemoryError(
      'OUT_OF_GUEST_MEMORY',
      `guest RAM exhausted: no ${pages} free contiguous pages (${this.freePages()} pages free in all)`,
    );
  }

  /** Frees a range returned by allocPages. */
  freePages(start?: number): number {
    if (start === undefined) return this.free.reduce((n, r) => n + r.count, 0);
    const count = this.used.get(start);
    if (count === undefined) {
      throw new GuestMemoryError('BAD_FREE', `page ${start} is not the start of an allocation`);
    }
    this.used.delete(start);
    let k = this.free.findIndex((r) => r.start > start);
    if (k < 0) k = this.free.length;
    this.free.splice(k, 0, { start, count });
    // Merge with the following, then the preceding, free range.
    const next = this.free[k + 1];
    if (next && start + count === next.start) {
      this.free[k]!.count += next.count;
      this.free.splice(k + 1, 1);
    }
    const prev = this.free[k - 1];
    if (prev && prev.start + prev.count === start) {
      prev.count += this.free[k]!.count;
      this.free.splice(k, 1);
    }
    return count;
  }
}
