// Copied as written from the usage guide (shared/reference/plugin-io-usage-guide.md), pattern 1 (run by src/index.js's register when IOHOST_GUIDE is set).
// src/extensions/socket-handlers.js
module.exports = {
  register({ strapi }) {
    // Wait for Socket.IO to initialize
    strapi.$io?.server?.on('connection', (socket) => {
      
      // Custom event: User presence
      socket.on('user:online', async () => {
        if (socket.user) {
          await strapi.entityService.update(
            'plugin::users-permissions.user',
            socket.user.id,
            { data: { isOnline: true, lastSeen: new Date() } }
          );
          
          // Broadcast to friends
          socket.broadcast.emit('friend:online', {
            userId: socket.user.id,
            username: socket.user.username
          });
        }
      });
      
      socket.on('disconnect', async () => {
        if (socket.user) {
          await strapi.entityService.update(
            'plugin::users-permissions.user',
            socket.user.id,
            { data: { isOnline: false, lastSeen: new Date() } }
          );
        }
      });
    });
  }
};
