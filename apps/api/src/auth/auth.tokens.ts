/** Injection token of the ApiKeyRegistry loaded at boot from API_KEYS_FILE / API_KEYS. */
export const API_KEYS = Symbol('API_KEYS');
