// A TDISP device interface (PCIe TEE Device Interface Security Protocol, and
// Linux's TSM: enum tsm_tdisp_state): what lets a confidential VM trust a
// device with its private memory. The interface goes CONFIG_UNLOCKED →
// CONFIG_LOCKED (LOCK_INTERFACE_REQUEST: its configuration frozen) → RUN
// (START_INTERFACE_REQUEST, once the guest accepted its report), or to ERROR
// on any change to locked configuration; STOP_INTERFACE_REQUEST returns it to
// CONFIG_UNLOCKED. Its effect is on the device's DMA context, where every
// access is checked: an accepted interface in RUN reaches private memory as
// plaintext (no bouncing: Linux's force_dma_unencrypted() is false for an
// accepted device); before that it meets the machine's encryption model like
// any untrusted device; in ERROR it can do no DMA at all.
import { VqsimError } from '../errors.js';
import type { DmaContext } from '../memory/dma-context.js';
import type { EncryptionModel } from '../memory/guest-memory.js';

export type TdispState = 'CONFIG_UNLOCKED' | 'CONFIG_LOCKED' | 'RUN' | 'ERROR';

/** The interface report a locked device presents (the fields a guest checks; SPDM signing not modelled). */
export interface TdispReport {
  vendor: number;
  device: number;
  revision: number;
  /** The measurement digest (48 bytes, SHA-384 sized), hex. */
  measurement: string;
}

/** The guest's verdict on a report: accept it (trust the device) or not. */
export type TdispAcceptor = (report: TdispReport) => boolean;

/** A TDISP request in the wrong state, or a device in ERROR (side 'device' when it is the device's doing). */
export class TdispError extends VqsimError {
  constructor(code: string, message: string, side: 'device' | 'user' = 'user') {
    super(code, message, side);
    this.name = 'TdispError';
  }
}

export class TdispInterface {
  private st: TdispState = 'CONFIG_UNLOCKED';
  /** The encryption model an untrusted device meets (the machine's, as the context had it). */
  private readonly machineEncryption: EncryptionModel;
  private acceptedReport: TdispReport | undefined;
  /** Transitions made, in order, with the reason for ERROR. */
  readonly log: string[] = [];

  constructor(
    /** What the device measures as (its firmware and configuration). */
    private readonly identity: TdispReport,
    /** The device's DMA context: what its state allows it to reach is set here. */
    private readonly ctx: DmaContext,
  ) {
    this.machineEncryption = ctx.encryption;
    if (!/^[0-9a-f]{96}$/.test(identity.measurement)) {
      throw new TdispError('TDISP_BAD_MEASUREMENT', 'tdisp measurement: must be 96 hex digits (a 48-byte digest)');
    }
  }

  get state(): TdispState {
    return this.st;
  }

  /** True in RUN after the guest accepted the report: the device is in the guest's trust boundary. */
  get trusted(): boolean {
    return this.st === 'RUN' && this.acceptedReport !== undefined;
  }

  private move(to: TdispState, why: string): void {
    this.log.push(`${this.st} -> ${to}: ${why}`);
    this.st = to;
    // What the state lets the device reach, enforced where every access is checked.
    this.ctx.blocked = to === 'ERROR';
    if (to !== 'RUN') this.ctx.setEncryption(this.machineEncryption);
  }

  private expect(state: TdispState, request: string): void {
    if (this.st === 'ERROR') {
      throw new TdispError('TDISP_ERROR', `tdisp ${request}: the interface is in ERROR (stop it first)`, 'device');
    }
    if (this.st !== state) {
      throw new TdispError('TDISP_BAD_STATE', `tdisp ${request}: the interface is ${this.st}, not ${state}`);
    }
  }

  /** LOCK_INTERFACE_REQUEST: freezes the configuration. */
  lock(): void {
    this.expect('CONFIG_UNLOCKED', 'LOCK_INTERFACE_REQUEST');
    this.move('CONFIG_LOCKED', 'LOCK_INTERFACE_REQUEST');
  }

  /** GET_DEVICE_INTERFACE_REPORT: only a locked (or running) interface presents one. */
  report(): TdispReport {
    if (this.st !== 'CONFIG_LOCKED' && this.st !== 'RUN') {
      throw new TdispError('TDISP_BAD_STATE', `tdisp GET_DEVICE_INTERFACE_REPORT: the interface is ${this.st}`);
    }
    return { ...this.identity };
  }

  /**
   * The guest checks the report and, if `accept` says so, starts the
   * interface (START_INTERFACE_REQUEST): the device then reaches private
   * memory directly. Returns whether it was accepted; a refused device stays
   * CONFIG_LOCKED and untrusted.
   */
  acceptAndStart(accept: TdispAcceptor): boolean {
    this.expect('CONFIG_LOCKED', 'START_INTERFACE_REQUEST');
    const r = this.report();
    if (!accept(r)) {
      this.log.push('CONFIG_LOCKED: report refused by the guest');
      return false;
    }
    this.acceptedReport = r;
    this.move('RUN', 'START_INTERFACE_REQUEST (report accepted)');
    this.ctx.setEncryption('none');
    return true;
  }

  /** STOP_INTERFACE_REQUEST: back to CONFIG_UNLOCKED, untrusted, DMA as any untrusted device. */
  stop(): void {
    this.acceptedReport = undefined;
    this.move('CONFIG_UNLOCKED', 'STOP_INTERFACE_REQUEST');
  }

  /**
   * The host (or the device) changes configuration: harmless while
   * unlocked; once locked (or running) the interface goes to ERROR and the
   * device can do no DMA at all.
   */
  configChange(what: string): void {
    if (this.st === 'CONFIG_LOCKED' || this.st === 'RUN') {
      this.acceptedReport = undefined;
      this.move('ERROR', `locked configuration changed: ${what}`);
    }
  }
}
