// The Node reference for the benchmarks: socket.io 4.8 doing what iohost does in the same
// scenarios, written the way strapi-plugin-io users write it (plain JS handlers in the server
// process). Same client contract: `join-room (room, ack)`, and `POST /api/v1/emit` with a Bearer
// key and `{event, data, rooms}`.
//   PORT=3001 API_KEY=... node server.mjs
import { createServer } from 'node:http';

import { Server } from 'socket.io';

const port = Number(process.env.PORT ?? 3001);
const key = process.env.API_KEY ?? '';

const http = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/api/v1/emit') {
    if (req.headers.authorization !== `Bearer ${key}`) {
      res.writeHead(401).end();
      return;
    }
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      try {
        const { event, data, rooms = [] } = JSON.parse(body);
        (rooms.length ? io.to(rooms) : io).emit(event, data);
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"success":true}');
      } catch (e) {
        res.writeHead(400).end(String(e));
      }
    });
    return;
  }
  res.writeHead(404).end();
});

const io = new Server(http, { cors: { origin: '*' }, maxHttpBufferSize: 1e6 });

io.on('connection', (socket) => {
  socket.on('join-room', (room, ack) => {
    if (typeof room !== 'string' || !/^[A-Za-z0-9_-]+$/.test(room)) {
      ack?.({ success: false, error: 'bad room' });
      return;
    }
    socket.join(room);
    ack?.({ success: true, room });
  });
});

http.listen(port, '127.0.0.1', () => console.log(`node reference listening on http://127.0.0.1:${port}`));
