// Reads an environment file the way systemd's EnvironmentFile= does (KEY=VALUE lines, # and ; comments,
// optional quotes), so `check-config --env-file /etc/plantgate/plantgate.env` sees the secrets the service
// will see. Values are never echoed in messages: only names and line numbers.
import { readFile } from 'node:fs/promises';

export type EnvFileResult = { ok: true; vars: Record<string, string> } | { ok: false; message: string };

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseEnvFile(text: string, file: string): EnvFileResult {
  const vars: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    let line = (lines[n] as string).trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    // A trailing backslash continues the line (systemd joins them).
    while (line.endsWith('\\') && n + 1 < lines.length) {
      n += 1;
      line = `${line.slice(0, -1)}${(lines[n] as string).trim()}`;
    }
    const eq = line.indexOf('=');
    const name = eq > 0 ? line.slice(0, eq).trim() : '';
    if (!NAME_RE.test(name)) {
      return {
        ok: false,
        message: `${file}:${n + 1}: expected NAME=VALUE (a variable name of letters, digits and "_"); systemd would ignore this line`,
      };
    }
    let value = line.slice(eq + 1).trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\(["\\$`])/g, '$1');
    }
    vars[name] = value;
  }
  return { ok: true, vars };
}

export async function readEnvFile(file: string): Promise<EnvFileResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'it does not exist'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied (run the check as the service user or root, e.g. sudo -u plantgate)'
          : String(code ?? err);
    return { ok: false, message: `${file}: cannot read the environment file: ${why}` };
  }
  return parseEnvFile(text, file);
}
