/** Base class of every error vqsim raises on purpose. `code` is stable and machine-readable. */
export class VqsimError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'VqsimError';
    this.code = code;
  }
}

/** An address or range outside guest RAM, or a bad memory configuration. */
export class GuestMemoryError extends VqsimError {
  constructor(code: string, message: string) {
    super(code, message);
    this.name = 'GuestMemoryError';
  }
}

/** A bad option given to a constructor or command: names the option and what is allowed. */
export class ConfigError extends VqsimError {
  constructor(message: string) {
    super('CONFIG', message);
    this.name = 'ConfigError';
  }
}
