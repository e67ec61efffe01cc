// `auth: { username, password_env | password_file }`, the one shape every user/password component takes (the MQTT
// source and sink today), and how a component reads the password the loader resolved. Lives in the config kit so
// adapters and sinks share it without importing each other.
import { z } from 'zod';
import { ConfigError } from '../../kit/errors.js';
import { Secret } from './primitives.js';

/** The password reference keys of an `auth:` mapping; the component adds `username` (required or not). */
export function passwordRefFields(what: string) {
  return {
    password_env: z
      .string()
      .min(1)
      .optional()
      .describe(`Name of the environment variable holding the ${what} password.`),
    password_file: z
      .string()
      .min(1)
      .optional()
      .describe(`Path of a file holding the ${what} password (trailing newline ignored).`),
  };
}

/** The checks of an `auth:` mapping: one password reference at most, and a username with it. */
export function checkPasswordAuth(
  a: { username?: string | undefined; password_env?: string | undefined; password_file?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if (a.password_env !== undefined && a.password_file !== undefined) {
    ctx.addIssue({
      code: 'custom',
      message: 'give either password_env or password_file, not both',
      path: ['password_file'],
    });
  }
  if ((a.password_env !== undefined || a.password_file !== undefined) && a.username === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: 'password_env/password_file need a username',
      path: ['username'],
    });
  }
}

/**
 * The password of a resolved `auth:` (the loader puts the Secret next to its reference; a test may give a plain
 * string). A reference without its value means the configuration did not come through the loader: a ConfigError
 * that names the key, never a value.
 */
export function resolvedPassword(
  auth:
    | {
        password?: string | Secret | undefined;
        password_env?: string | undefined;
        password_file?: string | undefined;
      }
    | undefined,
  who: string,
): string | undefined {
  const p = auth?.password;
  if (p !== undefined) return p instanceof Secret ? p.reveal() : p;
  const ref =
    auth?.password_env !== undefined
      ? 'auth.password_env'
      : auth?.password_file !== undefined
        ? 'auth.password_file'
        : undefined;
  if (ref === undefined) return undefined;
  throw new ConfigError(
    `${who}: ${ref} was not resolved; the configuration must come through the config loader.`,
    {
      code: 'CONFIG_SECRET_MISSING',
    },
  );
}
