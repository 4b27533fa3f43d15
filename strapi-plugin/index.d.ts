// Types of iohost's Strapi plugin: `strapi.$io` and the io plugin's `monitoring` service.
// Every `strapi.$io` method returns a promise (strapi-plugin-io answered joinRoom, leaveRoom,
// disconnectSocket, sendPrivateMessage, broadcast, emitToNamespace, emitToEntity,
// unsubscribeFromEntity and getEntitySubscriptions synchronously). getConnectionStats() and
// getEntitySubscriptions() still answer synchronously, from a mirror of iohost's sockets at most
// `mirror.intervalMs` old, and can be awaited for iohost's answer now.

/** Thrown (or passed to the rejection) when iohost or the way to it fails. */
export interface IohostError extends Error {
  name: 'IohostError';
  /** iohost's code (`no_socket`, `no_namespace`, `bad_request`, `unauthorized`, ...) or the
   * plugin's: `not_configured`, `timeout`, `unreachable`, `bad_answer`. */
  code: string;
  /** The HTTP status iohost answered, when it answered. */
  status?: number;
  method?: string;
  path?: string;
}

export interface IohostPluginConfig {
  /** iohost's base URL (default: IOHOST_URL), e.g. `http://127.0.0.1:1338`. */
  url?: string;
  /** One of iohost's `api.keys` (default: IOHOST_API_KEY). */
  apiKey?: string;
  /** Longest wait for one call, ms (default 5000). */
  timeoutMs?: number;
  /** The socket mirror behind the synchronous answers (default on, every 1000 ms; 250 to 60000). */
  mirror?: { enabled?: boolean; intervalMs?: number };
  /** Every iohost node's own URL, for socket listeners in Strapi in a cluster (default: `url`). */
  relay?: { urls?: string[] };
  /** Entries logEvent() keeps (default 100). */
  eventLogSize?: number;
}

export interface SocketUser {
  id: number;
  username: string;
}

/** What a value is now, and, awaited, what iohost says now. */
export type Fresh<T> = T & PromiseLike<T>;

export interface RemoteSocket {
  id: string;
  nsp: string;
  rooms: Set<string>;
  user: SocketUser | null;
  data: { user: SocketUser | null; role: string };
  handshake: { address: string; time: string; query: Record<string, string> };
  role: string;
  node: string;
  transport: 'polling' | 'websocket';
  join(room: string | string[]): Promise<boolean[]>;
  leave(room: string): Promise<boolean>;
  emit(event: string, ...args: unknown[]): Promise<EmitResult>;
  disconnect(): Promise<boolean>;
}

export interface EmitResult {
  success: boolean;
  /** Sockets named that no node holds. */
  missingSockets: string[];
  /** A node did not answer in time whether it holds them. */
  partial: boolean;
}

/** socket.io's broadcast operator, over iohost's API. */
export interface Operator {
  to(room: string | string[]): Operator;
  in(room: string | string[]): Operator;
  /** Socket ids or rooms, as in socket.io. */
  except(room: string | string[]): Operator;
  /** Dropped for clients that cannot take it now. */
  readonly volatile: Operator;
  readonly local: Operator;
  compress(compress: boolean): Operator;
  /** How long `emitWithAck` (or an emit with a callback) waits for acks, ms (1 to 60000). */
  timeout(ms: number): Operator;
  /**
   * With `timeout(ms)`, a last-argument callback gets `(err, responses)` as in socket.io;
   * without, an acknowledgement callback is refused (`bad_request`).
   */
  emit(event: string, ...args: unknown[]): Promise<EmitResult | boolean>;
  /**
   * Each client's ack (its first argument); rejects with `operation has timed out` when one
   * gave none in time (the error has `responses` and `timedOut`). Default wait 10000 ms.
   */
  emitWithAck<T = unknown>(event: string, ...args: unknown[]): Promise<T[]>;
  fetchSockets(): Promise<RemoteSocket[]>;
  socketsJoin(room: string | string[]): Promise<unknown>;
  socketsLeave(room: string | string[]): Promise<unknown>;
  disconnectSockets(close?: boolean): Promise<unknown>;
}

export interface IohostServer extends Operator {
  /** A namespace: `'admin'` or `'/admin'`. */
  of(namespace: string): Operator & { name: string };
  readonly sockets: Operator & { name: string };
  /**
   * `'connection'` (or `'connect'`): runs in Strapi for every socket iohost relays (README:
   * "Socket listeners in Strapi"). Other server events are not supported (a warning, once).
   */
  on(event: 'connection' | 'connect', listener: (socket: RelayedSocket) => void): this;
  on(event: string, listener: (...args: any[]) => void): this;
  /** Not supported (logs a warning): admission runs in iohost (handlers' `on-connect`). */
  use(middleware: (...args: any[]) => void): this;
}

/** A socket as Strapi's connection listeners get it; its methods are iohost API calls. */
export interface RelayedSocket extends Omit<RemoteSocket, 'nsp'> {
  connected: boolean;
  nsp: { name: string };
  /** Everyone in the namespace but this socket. */
  readonly broadcast: Operator;
  /** Everyone in `room` but this socket. */
  to(room: string | string[]): Operator;
  in(room: string | string[]): Operator;
  except(room: string | string[]): Operator;
  /** A client event; the last argument is the ack function when the client asked for one. */
  on(event: string, listener: (...args: any[]) => unknown): this;
  on(event: 'disconnect' | 'disconnecting', listener: (reason: string) => unknown): this;
  once(event: string, listener: (...args: any[]) => unknown): this;
  off(event: string, listener: (...args: any[]) => unknown): this;
  removeAllListeners(event?: string): this;
  listeners(event: string): Array<(...args: any[]) => unknown>;
  /** Sees every event as `[event, ...args]`; `next(new Error(message))` refuses it. */
  use(middleware: (packet: [string, ...unknown[]], next: (error?: Error) => void) => void): this;
}

export interface EntitySubscriptionResult {
  success: boolean;
  room?: string;
  uid?: string;
  id?: string | number;
  error?: string;
}

export interface EntitySubscriptionsResult {
  success: boolean;
  subscriptions?: Array<{ uid: string; id: string; room: string }>;
  error?: string;
}

export interface IohostIo {
  /** The rooms (everyone when none) get `event` with `{data}`. */
  raw(options: { event: string; data: unknown; rooms?: string[] }): Promise<EmitResult>;
  /** true when done, false when no node holds the socket. */
  joinRoom(socketId: string, room: string, namespace?: string): Promise<boolean>;
  leaveRoom(socketId: string, room: string, namespace?: string): Promise<boolean>;
  /** Every node's sockets in `room` (main namespace). */
  getSocketsInRoom(room: string): Promise<Array<{ id: string; user: SocketUser | null }>>;
  sendPrivateMessage(socketId: string, event: string, data: unknown): Promise<EmitResult>;
  /** Everyone in the main namespace but `socketId`. */
  broadcast(socketId: string, event: string, data: unknown): Promise<EmitResult>;
  emitToNamespace(namespace: string, event: string, data: unknown): Promise<EmitResult>;
  disconnectSocket(socketId: string, reason?: string, namespace?: string): Promise<boolean>;
  subscribeToEntity(socketId: string, uid: string, id: string | number): Promise<EntitySubscriptionResult>;
  unsubscribeFromEntity(socketId: string, uid: string, id: string | number): Promise<EntitySubscriptionResult>;
  getEntitySubscriptions(socketId: string): Fresh<EntitySubscriptionsResult>;
  emitToEntity(uid: string, id: string | number, event: string, data: unknown): Promise<EmitResult>;
  getEntityRoomSockets(uid: string, id: string | number): Promise<Array<{ id: string; user: SocketUser | null }>>;
  readonly server: IohostServer;
}

export interface ConnectionStats {
  connected: number;
  rooms: Array<{ name: string; members: number; isEntityRoom: boolean }>;
  sockets: Array<{
    id: string;
    connected: boolean;
    rooms: string[];
    entitySubscriptions: Array<{ uid: string; id: string; room: string }>;
    handshake: { address: string; time: string; query: Record<string, string> };
    user: SocketUser | null;
    role: string;
    node: string;
    transport: 'polling' | 'websocket';
  }>;
  entitySubscriptions: { total: number; byContentType: Record<string, number>; rooms: string[] };
}

export interface EventStats {
  totalEvents: number;
  eventsByType: Record<string, number>;
  lastReset: number;
  eventsPerSecond: string | number;
}

export interface MonitoringService {
  getConnectionStats(): Fresh<ConnectionStats>;
  /** Counts what logEvent() recorded, as the plugin did. */
  getEventStats(): EventStats;
  getEventLog(limit?: number): Array<{ timestamp: number; type: string; data: unknown }>;
  logEvent(type: string, data?: unknown): void;
  resetStats(): void;
  sendTestEvent(eventName?: string, data?: Record<string, unknown>): Promise<{ success: boolean; eventName: string; data: unknown; recipients: number }>;
}

declare module '@strapi/strapi' {
  export interface Strapi {
    $io: IohostIo;
  }
}
