// iohost's types: the Socket.IO events (events.d.ts) and the HTTP API /api/v1 (api.d.ts,
// generated from its OpenAPI document), with a typed client for the API.
import type { Client } from 'openapi-fetch';
import type { components, paths } from './api.js';

export * from './events.js';
export type { components, operations, paths } from './api.js';

/** The API's schemas by name: `Schema<'SocketView'>`, `Schema<'EmitRequest'>`, ... */
export type Schema<Name extends keyof components['schemas']> = components['schemas'][Name];

/** Every API error: `{error: {code, message}}` with a 4xx or 5xx status. */
export type ApiError = Schema<'ErrorBody'>;

export interface IohostClientOptions {
  /** iohost's base URL, e.g. `http://127.0.0.1:1338` (the client adds `/api/v1`). */
  url: string;
  /** One of iohost's `api.keys`. */
  apiKey: string;
  /** Deadline of each call in milliseconds (default 10000). */
  timeoutMs?: number;
  fetch?: (input: Request) => Promise<Response>;
}

/**
 * A client for iohost's HTTP API, typed from its OpenAPI document (openapi-fetch):
 *
 *   const iohost = createIohostClient({ url, apiKey });
 *   const { data, error } = await iohost.POST('/emit', { body: { event: 'news', data: {...}, rooms: 'lobby' } });
 *   const { data: sockets } = await iohost.GET('/sockets', { params: { query: { room: 'lobby' } } });
 */
export declare function createIohostClient(options: IohostClientOptions): Client<paths>;
