// The demo chat: plain socket.io-client against iohost, same origin.
(() => {
  const ROOM_ID = 'lobby';
  const ROOM = `chat-room-${ROOM_ID}`;
  const $ = (id) => document.getElementById(id);
  let socket;
  let typingTimer;
  let lastTypingSent = 0;

  function setStatus(text) { $('status').textContent = text; }
  function showError(text) { $('error').textContent = text || ''; }

  function renderOnline(users) {
    $('online').replaceChildren(...users.map((u) => {
      const li = document.createElement('li');
      li.textContent = u.username;
      return li;
    }));
  }

  function addMessage({ author, text }) {
    const li = document.createElement('li');
    const who = document.createElement('span');
    who.className = 'author';
    who.textContent = author.username;
    li.append(who, document.createTextNode(text));
    $('messages').append(li);
  }

  function showTyping(username) {
    $('typing').textContent = `${username} is typing…`;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => ($('typing').textContent = ''), 2000);
  }

  function join(name) {
    socket = io({ auth: { name } });
    socket.on('connect', async () => {
      setStatus(`Connected as ${name}`);
      const reply = await socket.emitWithAck('presence:join', ROOM);
      if (!reply.success) return showError(reply.error);
      renderOnline(reply.users);
      $('join-form').hidden = true;
      $('chat').hidden = false;
      $('text').focus();
    });
    socket.on('disconnect', (reason) => setStatus(`Disconnected (${reason}), reconnecting…`));
    socket.on('connect_error', (err) => setStatus(`Cannot connect: ${err.message}`));
    socket.on('presence:list', ({ room, users }) => room === ROOM && renderOnline(users));
    socket.on('chat:typing', ({ username }) => showTyping(username));
    socket.on('chat:message', (message) => {
      addMessage(message);
      $('typing').textContent = '';
    });
    socket.on('error', ({ error }) => showError(error));
  }

  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('name').value.trim();
    if (name) join(name);
  });

  $('text').addEventListener('input', () => {
    const now = Date.now();
    if (socket && now - lastTypingSent > 500) {
      lastTypingSent = now;
      socket.emit('chat:typing', { roomId: ROOM_ID });
    }
  });

  $('send-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = $('text').value;
    if (!text.trim()) return;
    const reply = await socket.emitWithAck('chat:message', { roomId: ROOM_ID, text });
    if (reply.success) {
      $('text').value = '';
      showError('');
    } else {
      showError(reply.error);
    }
  });
})();
