// The Node reference for the benchmarks: socket.io 4.8 doing what iohost does in the same
// scenarios, written the way strapi-plugin-io users write it (plain JS in the server process).
// Same client contract as iohost:
// - `join-room (room, ack)`, `get-rooms (ack)`;
// - `POST /api/v1/emit` with a Bearer key and `{event, data, rooms}`;
// - handshake `auth.token`: a Strapi JWT, verified with JWT_SECRET, the user (and role) read from
//   STRAPI_URL with API_TOKEN and kept IDENTITY_CACHE_MS, one lookup per user at a time — as
//   iohost does, so both servers ask Strapi equally often;
// - the usage guide's rate-limit middleware (as the rate-limit example: a token bucket per
//   socket and per user, EVENTS_PER_MINUTE and BURST) and chat typing (`chat:typing {roomId}` to
//   the other members of `chat-room-<roomId>`, once per THROTTLE_MS per socket and room, acked
//   `{success, throttled?}`), as the chat-typing example;
// - `message-with-ack` acked with its arguments (the echo example);
// - Strapi webhooks at `POST /strapi/webhook` (Bearer WEBHOOK_SECRET): `entry.update` of an
//   article reaches `io-role-public` as `article:update {data: {id, attributes}, meta}`, the
//   plugin's event and payload (Public may read articles in the benchmark).
// - with REDIS_URL (and REDIS_PREFIX), one of several processes joined by the Redis adapter.
//   PORT=3001 API_KEY=... [JWT_SECRET=... STRAPI_URL=... API_TOKEN=...] [REDIS_URL=...] node server.mjs
import { createServer } from 'node:http';

import jwt from 'jsonwebtoken';
import { Server } from 'socket.io';

const env = process.env;
const port = Number(env.PORT ?? 3001);
const key = env.API_KEY ?? '';
const perMinute = Number(env.EVENTS_PER_MINUTE ?? 60);
const burst = Number(env.BURST ?? perMinute);
const throttleMs = Number(env.THROTTLE_MS ?? 1000);
const identityCacheMs = Number(env.IDENTITY_CACHE_MS ?? 60000);

// POST routes: bearer secret and handler of the parsed JSON body, which answers with a status.
const routes = {
  '/api/v1/emit': [key, ({ event, data, rooms = [] }) => {
    (rooms.length ? io.to(rooms) : io).emit(event, data);
    return 200;
  }],
  '/strapi/webhook': [env.WEBHOOK_SECRET, ({ event, model, entry }) => {
    const action = event.split('.')[1];
    const { id, ...attributes } = entry;
    io.to('io-role-public').emit(`${model}:${action}`, { data: { id, attributes }, meta: {} });
    return 204;
  }],
};

const http = createServer((req, res) => {
  const route = req.method === 'POST' && routes[req.url];
  if (!route) {
    res.writeHead(404).end();
    return;
  }
  const [secret, handle] = route;
  if (!secret || req.headers.authorization !== `Bearer ${secret}`) {
    res.writeHead(401).end();
    return;
  }
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    try {
      const status = handle(JSON.parse(body));
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(status === 200 ? '{"success":true}' : undefined);
    } catch (e) {
      res.writeHead(400).end(String(e));
    }
  });
});

const io = new Server(http, { cors: { origin: '*' }, maxHttpBufferSize: 1e6 });

// Several processes as one service (`bench.sh --cores N`): the Redis adapter between them, the
// way Node users scale socket.io out.
if (env.REDIS_URL) {
  const { createClient } = await import('redis');
  const { createAdapter } = await import('@socket.io/redis-adapter');
  const pub = createClient({ url: env.REDIS_URL });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub, { key: env.REDIS_PREFIX ?? 'socket.io' }));
}

// Users looked up in Strapi: id -> {at, user}; lookups in flight: id -> promise.
const users = new Map();
const lookups = new Map();
async function lookUp(id) {
  const cached = users.get(id);
  if (cached && Date.now() - cached.at < identityCacheMs) return cached.user;
  if (!lookups.has(id)) {
    const lookup = fetch(`${env.STRAPI_URL}/api/users/${id}?populate=role`, { headers: { Authorization: `Bearer ${env.API_TOKEN}` } })
      .then(async (r) => {
        if (!r.ok) throw new Error(`Strapi answered ${r.status}`);
        const user = await r.json();
        users.set(id, { at: Date.now(), user });
        return user;
      })
      .finally(() => lookups.delete(id));
    lookups.set(id, lookup);
  }
  return lookups.get(id);
}

io.use(async (socket, next) => {
  const token = socket.handshake.auth?.token;
  if (!token) {
    socket.data.role = 'public';
    return next();
  }
  try {
    const claims = jwt.verify(token, env.JWT_SECRET, { algorithms: ['HS256'] });
    const user = await lookUp(claims.id ?? claims.userId);
    if (user.blocked) return next(new Error('Invalid credentials'));
    socket.data.role = (user.role?.type ?? 'authenticated').toLowerCase();
    socket.data.user = { id: user.id, username: user.username };
    next();
  } catch (e) {
    next(new Error(e.name === 'TokenExpiredError' ? 'Token expired' : 'Invalid token.'));
  }
});

/** Takes a token from `buckets[key]` (refilled since last use); false when there is none. */
function take(buckets, key, now) {
  const b = buckets.get(key) ?? { tokens: burst, at: now };
  b.tokens = Math.min(burst, b.tokens + ((now - b.at) * perMinute) / 60000);
  b.at = now;
  buckets.set(key, b);
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}
const socketBuckets = new Map();
const userBuckets = new Map();
const typingUntil = new Map(); // `${socket.id}:${room}` -> time the throttle ends

io.on('connection', (socket) => {
  socket.join(`io-role-${socket.data.role}`);
  if (socket.data.user) socket.join(`user-${socket.data.user.id}`);

  socket.use((packet, next) => {
    const now = Date.now();
    const user = socket.data.user;
    if (!take(socketBuckets, socket.id, now) || (user && !take(userBuckets, user.id, now))) {
      return next(new Error(`Rate limit exceeded: at most ${perMinute} events per minute`));
    }
    next();
  });
  socket.on('error', () => {}); // middleware refusals; the ack-less client just loses the event

  socket.on('join-room', (room, ack) => {
    if (typeof room !== 'string' || !/^[A-Za-z0-9_-]+$/.test(room) || room.startsWith('io-')) {
      ack?.({ success: false, error: 'bad room' });
      return;
    }
    socket.join(room);
    ack?.({ success: true, room });
  });
  socket.on('get-rooms', (ack) => ack?.({ success: true, rooms: [...socket.rooms].filter((r) => r !== socket.id) }));
  socket.on('message-with-ack', (...args) => {
    const ack = args.pop();
    if (typeof ack === 'function') ack(...args);
  });
  socket.on('chat:typing', (data, ack) => {
    const id = data?.roomId;
    if (!(typeof id === 'number' || (typeof id === 'string' && id.length > 0 && id.length <= 100))) {
      ack?.({ success: false, error: 'chat:typing needs {roomId}' });
      return;
    }
    const room = `chat-room-${id}`;
    if (!socket.rooms.has(room)) {
      ack?.({ success: false, error: `join ${room} before typing in it` });
      return;
    }
    const now = Date.now();
    const throttle = `${socket.id}:${room}`;
    if ((typingUntil.get(throttle) ?? 0) > now) {
      ack?.({ success: true, throttled: true });
      return;
    }
    typingUntil.set(throttle, now + throttleMs);
    socket.to(room).emit('chat:typing', { username: socket.data.user?.username ?? 'anonymous', roomId: String(id) });
    ack?.({ success: true });
  });

  socket.on('disconnecting', () => {
    socketBuckets.delete(socket.id);
    for (const room of socket.rooms) typingUntil.delete(`${socket.id}:${room}`);
  });
});

http.listen(port, '127.0.0.1', () => console.log(`node reference listening on http://127.0.0.1:${port}`));
