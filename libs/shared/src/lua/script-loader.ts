import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';

/** One Lua script, includes resolved: `name-<KEYS count>.lua` becomes `{ name, numberOfKeys, lua }`. */
export interface LuaScript {
  name: string;
  numberOfKeys: number;
  lua: string;
}

const SCRIPT_FILE = /^([A-Za-z]\w*)-(\d+)\.lua$/;
const INCLUDE = /^--- @include "([^"]+)"\s*$/gm;

/**
 * The scripts of a folder (its `*-<n>.lua` files, as BullMQ names its own), each with its
 * `--- @include "path"` lines replaced by the included file (path relative to the including file,
 * without `.lua`; each file included once per script, nested includes first).
 *
 * The folder is the one next to the calling module (`new URL('./lua/', import.meta.url)`), in the
 * sources and in a build alike: `npm run build` copies the .lua files next to the compiled JavaScript
 * (tools/build.mjs), as BullMQ ships its own. Read at import, so a build without them fails at boot.
 */
export function loadScripts(folder: URL): LuaScript[] {
  const dir = fileURLToPath(folder);
  let files: string[];
  try {
    files = readdirSync(dir);
  } catch {
    throw new Error(`Lua scripts not found in ${dir}: build with "npm run build" (tsc alone does not copy the .lua files)`);
  }
  return files.flatMap((file) => {
    const m = SCRIPT_FILE.exec(file);
    if (!m) return [];
    return [{ name: m[1]!, numberOfKeys: Number(m[2]), lua: expand(join(dir, file), new Set(), []) }];
  });
}

function expand(file: string, included: Set<string>, stack: string[]): string {
  if (stack.includes(file)) throw new Error(`Lua include cycle: ${[...stack, file].map((f) => basename(f)).join(' -> ')}`);
  const text = readFileSync(file, 'utf8');
  return text.replace(INCLUDE, (_, path: string) => {
    const target = resolve(dirname(file), `${path}.lua`);
    if (included.has(target)) return '';
    const body = expand(target, included, [...stack, file]);
    included.add(target);
    return body;
  });
}

/**
 * Makes each script a command of the connection (`prefix + name`): ioredis runs it by EVALSHA, sending
 * its text only when Redis does not know it yet (once per server, and again after a restart).
 */
export function defineScripts(redis: Redis, scripts: readonly LuaScript[], prefix: string): void {
  for (const { name, numberOfKeys, lua } of scripts) redis.defineCommand(`${prefix}${name}`, { numberOfKeys, lua });
}
