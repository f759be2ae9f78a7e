// virtio-console: VIRTIO 1.2 §5.3 and the Linux uapi header linux/virtio_console.h.

/** Virtio device ID of a console (VIRTIO_ID_CONSOLE, linux/virtio_ids.h; §5). */
export const VIRTIO_ID_CONSOLE = 3;

/** Device feature bits (VIRTIO_CONSOLE_F_* in linux/virtio_console.h; §5.3.3). */
export const ConsoleFeature = { SIZE: 0, MULTIPORT: 1, EMERG_WRITE: 2 } as const;

/** Offsets in struct virtio_console_config: cols u16, rows u16, max_nr_ports u32, emerg_wr u32 (§5.3.4). */
export const ConsoleConfig = { COLS: 0, ROWS: 2, MAX_NR_PORTS: 4, EMERG_WR: 8, SIZE: 12 } as const;

/** Port 0's queues (§5.3.2): receiveq (device to driver) and transmitq (driver to device). */
export const CONSOLE_RECEIVEQ = 0;
export const CONSOLE_TRANSMITQ = 1;
