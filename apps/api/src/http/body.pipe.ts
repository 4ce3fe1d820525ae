import type { PipeTransform } from '@nestjs/common';

/**
 * `@Body(new BodyPipe(parse))`: the handler receives the request's validated DTO; `parse` throws the
 * route's own 400 for a body it refuses.
 */
export class BodyPipe<T> implements PipeTransform<unknown, T> {
  constructor(private readonly parse: (body: unknown) => T) {}

  transform(body: unknown): T {
    return this.parse(body);
  }
}
