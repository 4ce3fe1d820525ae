import { type LuaScript, loadScripts } from '../lua/script-loader.js';

/** The job record's state machine, accounting and admission, one script per file in ./lua (each file's header names its KEYS, ARGV and reply). */
export const JOB_SCRIPT_NAMES = ['createJob', 'checkAdmission', 'deleteJob', 'markRunning', 'completeShard', 'failShard', 'cancelJob'] as const;
export type JobScriptName = (typeof JOB_SCRIPT_NAMES)[number];

export const JOB_SCRIPTS: readonly LuaScript[] = loadScripts(new URL('./lua/', import.meta.url));

const missing = JOB_SCRIPT_NAMES.filter((name) => !JOB_SCRIPTS.some((s) => s.name === name));
if (missing.length > 0) throw new Error(`Lua scripts missing from libs/shared/src/jobs/lua: ${missing.join(', ')}`);
