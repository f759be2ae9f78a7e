import { VqsimError } from '../errors.js';

/** A bad command line: main prints the message as one line and exits with code 2. Code USAGE, side 'user'. */
export class UsageError extends VqsimError {
  constructor(message: string) {
    super('USAGE', message, 'user');
    this.name = 'UsageError';
  }
}
