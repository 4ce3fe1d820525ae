export { freePort, startRedis, type RedisHandle } from '../../tools/processes.js';
