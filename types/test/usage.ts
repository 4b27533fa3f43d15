// How front ends and backends use the types; `tsc -p test` compiles it, and each
// `@ts-expect-error` line proves the types refuse a mistake (tsc fails if one is accepted).
import { io, type Socket } from 'socket.io-client';
import { createIohostClient, type ClientToServerEvents, type Schema, type ServerToClientEvents } from 'iohost-types';

type Article = { title: string; views: number };
type Custom = { 'chat:typing': (who: string) => void };
const socket: Socket<ServerToClientEvents<{ article: Article }, 'flat', Custom>, ClientToServerEvents<{ 'chat:typing': (room: string) => void }>> =
  io('http://127.0.0.1:1338', { auth: { token: 'jwt' }, autoConnect: false });

export async function frontEnd(): Promise<void> {
  const joined = await socket.emitWithAck('join-room', 'lobby');
  if (joined.success) joined.room.toUpperCase();
  else joined.error.toUpperCase();
  // @ts-expect-error a refusal has no `room`
  if (!joined.success) joined.room;
  const rooms = await socket.emitWithAck('get-rooms');
  if (rooms.success) rooms.rooms.map((r) => r.length);
  // @ts-expect-error join-room takes a room name
  socket.emit('join-room', 42, () => {});
  const followed = await socket.emitWithAck('subscribe-entity', { uid: 'api::article.article', id: 'abc' });
  if (followed.success) followed.room.startsWith('api::');
  socket.on('article:publish', ({ data }) => data.documentId + (data.title ?? '') + (data.views ?? 0));
  socket.on('article:delete', ({ data }) => data.documentId);
  // @ts-expect-error an article has no `price`
  socket.on('article:update', ({ data }) => data.price);
  socket.on('error', ({ event, error }) => `${event}: ${error}`);
  socket.on('private-message', (m) => m.fromUser?.username ?? m.from);
  socket.on('chat:typing', (who) => who.length);
  socket.emit('chat:typing', 'lobby');
  // @ts-expect-error not an event anything sends
  socket.on('article:archive', () => {});
}

export async function backEnd(): Promise<void> {
  const iohost = createIohostClient({ url: 'http://127.0.0.1:1338', apiKey: 'key' });
  const emitted = await iohost.POST('/emit', { body: { event: 'news', data: { text: 'hi' }, rooms: ['lobby'] } });
  if (emitted.data) emitted.data.missingSockets.map((id) => id.length);
  if (emitted.error) emitted.error.error.message.toUpperCase();
  const listed = await iohost.GET('/sockets', { params: { query: { room: 'lobby' } } });
  const sockets: Schema<'SocketView'>[] = listed.data ?? [];
  sockets.map((s) => s.id);
  await iohost.DELETE('/sockets/{id}', { params: { path: { id: 'abc' } } });
  // @ts-expect-error /emit needs an event name
  await iohost.POST('/emit', { body: { data: 1 } });
  // @ts-expect-error there is no such path
  await iohost.GET('/nothing');
}
