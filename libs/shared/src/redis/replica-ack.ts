import type { Redis } from 'ioredis';
import { NotReplicatedError } from '../errors/not-replicated.error.js';

/**
 * Makes writes durable on replicas before they are acknowledged (REDIS_MIN_REPLICAS_ACK): Redis
 * replicates asynchronously, so a write the primary took a moment before it died may be missing on
 * the replica the Sentinels promote. WAIT covers the writes of the connection it runs on, so it
 * runs on each of `connections`: every connection that writes what is acknowledged. With
 * `minReplicas` 0 it does nothing.
 */
export class ReplicaAck {
  constructor(
    private readonly connections: readonly Redis[],
    /** @defaultValue 0 (off) */
    readonly minReplicas: number,
    /** @defaultValue 1000 */
    readonly timeoutMs: number,
  ) {}

  get enabled(): boolean {
    return this.minReplicas > 0;
  }

  /** Resolves once every connection's writes so far reached `minReplicas` replicas; throws NotReplicatedError if not in time. */
  async confirm(): Promise<void> {
    if (!this.enabled) return;
    const confirmed = await Promise.all(this.connections.map((connection) => connection.wait(this.minReplicas, this.timeoutMs)));
    const fewest = Math.min(...confirmed);
    if (fewest < this.minReplicas) throw new NotReplicatedError(fewest, this.minReplicas, this.timeoutMs);
  }
}
