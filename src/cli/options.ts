/**
 * Parsing and checking of command-line values.
 */

/** A command-line mistake: printed as one line, exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parses an integer option, checking its range. */
export function intOption(name: string, value: string | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer of at least ${min}` : `an integer in [${min}, ${max}]`;
    throw new UsageError(`--${name} must be ${range}, received "${value}".`);
  }
  return parsed;
}

/** Parses a number option, checking its range (inclusive unless `exclusiveMin`). */
export function numberOption(name: string, value: string | undefined, min: number, max = Number.POSITIVE_INFINITY, exclusiveMin = false): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  const aboveMin = exclusiveMin ? parsed > min : parsed >= min;
  if (value.trim() === '' || !Number.isFinite(parsed) || !aboveMin || parsed > max) {
    const lower = exclusiveMin ? `greater than ${min}` : `at least ${min}`;
    const upper = max === Number.POSITIVE_INFINITY ? '' : ` and at most ${max}`;
    throw new UsageError(`--${name} must be a number ${lower}${upper}, received "${value}".`);
  }
  return parsed;
}

/** Checks that a string option is one of `allowed`. */
export function choiceOption<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} must be one of ${allowed.join(', ')}, received "${value}".`);
  }
  return value as T;
}

/** Returns a required string option or raises a usage error naming it. */
export function requiredOption(name: string, value: string | undefined, command: string): string {
  if (value === undefined || value === '') {
    throw new UsageError(`acoustic-lm ${command} needs --${name}; see acoustic-lm ${command} --help.`);
  }
  return value;
}
