/** One guest buffer of a chain: guest physical address and length in bytes. */
export interface GuestBuffer {
  addr: number | bigint;
  len: number;
}

/** Writes a 64-bit guest address without going through BigInt when it is a number. */
export function setAddr(view: DataView, at: number, addr: number | bigint): void {
  if (typeof addr === 'bigint') {
    view.setBigUint64(at, addr, true);
  } else {
    view.setUint32(at, addr >>> 0, true);
    view.setUint32(at + 4, Math.floor(addr / 2 ** 32), true);
  }
}

/** Reads a 64-bit guest address as a number (exact below 2^53, which covers any guest RAM). */
export function getAddr(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 2 ** 32;
}
