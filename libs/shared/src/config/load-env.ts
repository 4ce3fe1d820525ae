import type { z } from 'zod';
import { ConfigError } from '../errors/config.error.js';

/**
 * Validates the environment once at boot. Every problem is reported at once, each naming its
 * variable, so a bad deploy fails before it takes any work.
 */
export function loadEnv<S extends z.ZodType>(schema: S, source: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const parsed = schema.safeParse(source);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(environment)';
    const value = source[name];
    // Passwords and secrets are named, never printed: the message ends up in logs.
    const shown = /PASSWORD|SECRET/.test(name) ? '"***"' : JSON.stringify(value);
    return `${name}${value === undefined ? '' : `=${shown}`}: ${issue.message}`;
  });
  throw new ConfigError(problems);
}
