// An IOVA allocator, as Linux's drivers/iommu/iova.c allocates without its
// per-CPU range caches (the rcache-less path of alloc_iova_fast(), i.e.
// alloc_iova() with size_aligned = true): page frames are handed out top-down
// from the limit, next-fit below the last allocation (the cached node), with
// one retry from the limit down to the cached node when the space below it is
// full (__alloc_and_insert_iova_range()). Freeing at or above the cached node
// moves the cache up to the freed range's successor
// (__cached_rbnode_delete_update()). Deterministic: the same calls give the
// same addresses.
//
// Not modelled: the rcaches (per-CPU magazines of freed ranges) and the
// power-of-two rounding of sizes under 32 pages that alloc_iova_fast() does
// for their sake; the max32_alloc_size shortcut (it only fails faster what
// the search would fail anyway); the separate cached node for allocations
// above 4 GiB (every domain here lies below 4 GiB, where iova.c uses its
// cached32_node).

/** An allocated range of page frames [lo, hi]. */
export interface IovaRange {
  lo: number;
  hi: number;
}

/** The smallest power of two ≥ n (n ≥ 1): the alignment alloc_iova() gives a size-aligned range of n frames. */
function alignOf(n: number): number {
  let a = 1;
  while (a < n) a *= 2;
  return a;
}

/**
 * One IOVA domain's allocator (struct iova_domain): frames [startPfn,
 * limitPfn], both inclusive, of 4 KiB each.
 */
export class IovaDomain {
  /** Allocated ranges, sorted by lo (iova.c's rbtree). */
  private readonly ranges: IovaRange[] = [];
  /** lo of the cached node (the last allocation, or what a free moved it to); Infinity: the anchor above the space. */
  private cached = Infinity;
  private usedFrames = 0;

  constructor(
    /** The first frame that may be handed out (iova.c's start_pfn; IOVA_START_PFN is 1: IOVA 0 never is). */
    readonly startPfn: number,
    /** The last frame that may be handed out. */
    readonly limitPfn: number,
  ) {
    if (!Number.isSafeInteger(startPfn) || !Number.isSafeInteger(limitPfn) || startPfn < 0 || limitPfn < startPfn) {
      throw new RangeError(`IOVA domain [${startPfn}, ${limitPfn}]: not a range of page frames`);
    }
  }

  /** Frames allocated now. */
  get used(): number {
    return this.usedFrames;
  }

  /** The allocated ranges, lowest first (a copy). */
  allocated(): IovaRange[] {
    return this.ranges.map((r) => ({ ...r }));
  }

  /** Index of the first range whose lo ≥ pfn (ranges.length when none). */
  private indexAtOrAbove(pfn: number): number {
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ranges[mid]!.lo < pfn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * alloc_iova(size, limitPfn, size_aligned = true): `size` frames aligned to
   * the next power of two, the highest free such range at or below the
   * cached node, else (the retry) between the cached node and the limit.
   * Returns the first frame, or undefined when no range fits.
   */
  alloc(size: number, limitPfn = this.limitPfn): number | undefined {
    if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`IOVA allocation of ${size} frames`);
    const limit = Math.min(limitPfn, this.limitPfn) + 1; // iova.c passes limit_pfn + 1 down
    const align = alignOf(size);
    const rs = this.ranges;
    const lo = (k: number) => (k < rs.length ? rs[k]!.lo : Infinity); // k = rs.length: the anchor
    let curr = this.cached === Infinity ? rs.length : this.indexAtOrAbove(this.cached);
    const retryPfn = curr < rs.length ? rs[curr]!.hi : Infinity;
    let high = limit;
    let low = this.startPfn;
    for (;;) {
      let newPfn: number;
      let prev: number;
      // Walk the tree backwards from curr: the first gap below high that fits.
      do {
        high = Math.min(high, lo(curr));
        newPfn = high >= size ? Math.floor((high - size) / align) * align : -1;
        prev = curr;
        curr--;
      } while (curr >= 0 && newPfn <= rs[curr]!.hi && newPfn >= low);
      if (high < size || newPfn < low) {
        if (low === this.startPfn && retryPfn < limit) {
          high = limit;
          low = retryPfn + 1;
          curr = this.indexAtOrAbove(limit);
          continue;
        }
        return undefined;
      }
      // The new range sits just below rs[prev].
      rs.splice(prev, 0, { lo: newPfn, hi: newPfn + size - 1 });
      this.cached = newPfn;
      this.usedFrames += size;
      return newPfn;
    }
  }

  /** The allocated range that holds frame `pfn` (find_iova()), or undefined. */
  find(pfn: number): IovaRange | undefined {
    const k = this.indexAtOrAbove(pfn + 1) - 1;
    const r = k >= 0 ? this.ranges[k] : undefined;
    return r && pfn <= r.hi ? { ...r } : undefined;
  }

  /**
   * free_iova(pfn): frees the range that holds frame `pfn`; returns it, or
   * undefined when no range does. Freeing at or above the cached node moves
   * it to the freed range's successor.
   */
  free(pfn: number): IovaRange | undefined {
    const k = this.indexAtOrAbove(pfn + 1) - 1;
    const r = k >= 0 ? this.ranges[k] : undefined;
    if (!r || pfn > r.hi) return undefined;
    if (r.lo >= this.cached) this.cached = k + 1 < this.ranges.length ? this.ranges[k + 1]!.lo : Infinity;
    this.ranges.splice(k, 1);
    this.usedFrames -= r.hi - r.lo + 1;
    return { ...r };
  }
}
