export enum QueueName {
  Shards = 'shards',
}
