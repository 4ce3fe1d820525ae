import { EventSourceParserStream } from 'eventsource-parser/stream';

/** One server-sent event (https://html.spec.whatwg.org/multipage/server-sent-events.html). */
export interface SseEvent {
  event: string;
  data: string;
}

/** The events of a text/event-stream body (eventsource-parser); an event without a name is a `message`. */
export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  for await (const { event, data } of body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream())) {
    yield { event: event ?? 'message', data };
  }
}
