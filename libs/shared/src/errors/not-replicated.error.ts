/** Fewer replicas than REDIS_MIN_REPLICAS_ACK confirmed a write in time: it could be lost at a failover. */
export class NotReplicatedError extends Error {
  override readonly name = 'NotReplicatedError';
  constructor(
    readonly confirmed: number,
    readonly required: number,
    readonly timeoutMs: number,
  ) {
    super(`${confirmed} of ${required} Redis replicas confirmed the write within ${timeoutMs} ms (REDIS_MIN_REPLICAS_ACK)`);
  }
}
