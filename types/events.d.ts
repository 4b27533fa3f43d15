// The Socket.IO side of iohost, for socket.io-client:
//
//   import { io, type Socket } from 'socket.io-client';
//   import type { ServerToClientEvents, ClientToServerEvents } from 'iohost-types';
//   type Article = { title: string; body?: string };
//   const socket: Socket<ServerToClientEvents<{ article: Article }>, ClientToServerEvents> = io(url, { auth: { token } });
//   const joined = await socket.emitWithAck('join-room', 'lobby');   // JoinRoomAck
//   socket.on('article:publish', ({ data }) => data.attributes.title);
//
// tests/types/ checks these against what a running iohost sends (each ack, refusal and content
// event, in both payload shapes): a field the server adds or drops fails it.

/** An event refused (by iohost, a handler, or Strapi's `socket.use`), with why. */
export interface Refusal {
  success: false;
  error: string;
}

/** What a refused event without an ack callback gets instead: an `error` event. */
export interface EventError {
  /** The refused event's name. */
  event: string;
  error: string;
}

/** A Strapi users-permissions user, as iohost knows it from the socket's JWT. */
export interface SocketUser {
  id: number;
  username: string;
}

export type JoinRoomAck = { success: true; room: string } | Refusal;
export type LeaveRoomAck = { success: true; room: string } | Refusal;
export type GetRoomsAck = { success: true; rooms: string[] } | Refusal;
export type PrivateMessageAck = { success: true } | Refusal;

/** A document to follow: a content type's uid and Strapi 5's `documentId`. */
export interface EntityRef {
  uid: string;
  id: string;
}
export interface EntitySubscription extends EntityRef {
  /** `<uid>:<id>` */
  room: string;
}
export type SubscribeEntityAck = ({ success: true } & EntitySubscription) | Refusal;
export type UnsubscribeEntityAck = ({ success: true } & EntitySubscription) | Refusal;
export type EntitySubscriptionsAck = { success: true; subscriptions: EntitySubscription[] } | Refusal;

/** `private-message` as the socket `to` receives it. */
export interface PrivateMessage<M = unknown> {
  /** The sender's socket id. */
  from: string;
  /** The sender's user; `null` for a socket without one. */
  fromUser: SocketUser | null;
  message: M;
  /** Unix milliseconds. */
  timestamp: number;
}

/** The built-in events a client may send, with their acks. */
export interface BuiltInClientEvents {
  'join-room': (room: string, ack: (answer: JoinRoomAck) => void) => void;
  'leave-room': (room: string, ack: (answer: LeaveRoomAck) => void) => void;
  'get-rooms': (ack: (answer: GetRoomsAck) => void) => void;
  /** Off unless `server.private_messages` is on. */
  'private-message': (message: { to: string; message: unknown }, ack: (answer: PrivateMessageAck) => void) => void;
  'subscribe-entity': (entity: EntityRef, ack: (answer: SubscribeEntityAck) => void) => void;
  'unsubscribe-entity': (entity: EntityRef, ack: (answer: UnsubscribeEntityAck) => void) => void;
  'get-entity-subscriptions': (ack: (answer: EntitySubscriptionsAck) => void) => void;
}

/**
 * What a client sends: the built-in events and your handlers' events (`Custom`), e.g.
 * `ClientToServerEvents<{ 'chat:typing': (room: string) => void }>`.
 */
export type ClientToServerEvents<Custom extends object = {}> = BuiltInClientEvents & Custom;

/** Strapi's actions, as the suffix of a content event (`article:publish`). */
export type ContentAction = 'create' | 'update' | 'delete' | 'publish' | 'unpublish' | 'draft-discard';

/** Fields Strapi keeps on every document; each may be missing (not in the content type, or not readable). */
export interface StrapiFields {
  documentId?: string;
  createdAt?: string;
  updatedAt?: string;
  /** `null` on a draft. */
  publishedAt?: string | null;
  locale?: string | null;
}

/**
 * A content event in the default shape (`strapi.payload = "v4"`, the plugin's): the fields a
 * role may read, under `attributes`. Any field may be missing (the role may not read it).
 */
export interface V4Payload<T> {
  data: { id: number; attributes: Partial<T> & StrapiFields };
  meta: Record<string, never>;
}

/** In the v4 shape, `:delete` and `:unpublish` carry the document's ids only. */
export interface RemovedPayload {
  data: { id: number; documentId: string };
}

/**
 * A content event in Strapi 5's shape (`strapi.payload = "flat"`); `:delete` and `:unpublish`
 * carry the document too (what the role may read of it).
 */
export interface FlatPayload<T> {
  data: { id: number; documentId: string } & Partial<T> & StrapiFields;
  meta: Record<string, never>;
}

export type PayloadShape = 'v4' | 'flat';

type Shaped<T, Shape extends PayloadShape> = Shape extends 'flat' ? FlatPayload<T> : V4Payload<T>;
type Removed<T, Shape extends PayloadShape> = Shape extends 'flat' ? FlatPayload<T> : RemovedPayload;

/**
 * The content events of your content types: `{ article: Article }` gives `article:create`,
 * `article:update`, `article:publish`, `article:draft-discard` (the document) and
 * `article:delete`, `article:unpublish` (its ids in the v4 shape, the document in the flat one). Keys are model names (`api::article.article`
 * is `article`; users-permissions users are `user`, media files `media`).
 */
export type ContentEvents<Types extends object, Shape extends PayloadShape = 'v4'> = {
  [K in keyof Types & string as `${K}:${'create' | 'update' | 'publish' | 'draft-discard'}`]: (payload: Shaped<Types[K], Shape>) => void;
} & {
  [K in keyof Types & string as `${K}:${'delete' | 'unpublish'}`]: (payload: Removed<Types[K], Shape>) => void;
};

/** What iohost itself sends to a client. */
export interface BuiltInServerEvents {
  /** A refused event sent without an ack callback. */
  error: (error: EventError) => void;
  'private-message': (message: PrivateMessage) => void;
}

/**
 * What a client receives: iohost's own events, your content types' events, and your
 * handlers' or backend's events (`Custom`).
 */
export type ServerToClientEvents<
  Types extends object = {},
  Shape extends PayloadShape = 'v4',
  Custom extends object = {},
> = BuiltInServerEvents & ContentEvents<Types, Shape> & Custom;

/** The messages a connection is refused with (`connect_error`'s `message`). */
export type ConnectRefusal =
  | 'Invalid token.'
  | 'Token expired'
  | 'Your account has been blocked'
  | 'Your account email is not confirmed'
  | 'Authentication is unavailable right now, try again'
  | 'Authentication required'
  | (string & {});
