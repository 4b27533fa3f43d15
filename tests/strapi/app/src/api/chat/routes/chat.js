// Copied from the usage guide (shared/reference/plugin-io-usage-guide.md), use case 3, but for
// `auth: true`, which Strapi 5 refuses at start ("config.auth must be a `object` type"):
// left out, as a content-API route needs an authenticated caller by default.
// src/api/chat/routes/chat.js
module.exports = {
  routes: [
    {
      method: 'POST',
      path: '/chat/send',
      handler: 'chat.send',
      config: {
        policies: []
      }
    },
    {
      method: 'GET',
      path: '/chat/rooms',
      handler: 'chat.listRooms',
      config: {}
    }
  ]
};

