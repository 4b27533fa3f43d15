// Copied as written from the usage guide (shared/reference/plugin-io-usage-guide.md), use case 3.
// src/api/chat/controllers/chat.js
module.exports = {
  async send(ctx) {
    const { roomId, message } = ctx.request.body;
    const user = ctx.state.user;
    
    // Validate
    if (!roomId || !message) {
      return ctx.badRequest('Missing required fields');
    }
    
    // Save message
    const chatMessage = await strapi.entityService.create(
      'api::chat-message.chat-message',
      {
        data: {
          content: message,
          room: roomId,
          author: user.id,
          publishedAt: new Date()
        },
        populate: ['author']
      }
    );
    
    // Broadcast to room
    strapi.$io.server.to(`chat-room-${roomId}`).emit('chat:message', {
      id: chatMessage.id,
      content: message,
      author: {
        id: user.id,
        username: user.username,
        avatar: user.avatar?.url
      },
      timestamp: Date.now()
    });
    
    return { success: true, message: chatMessage };
  },
  
  async listRooms(ctx) {
    const rooms = await strapi.entityService.findMany(
      'api::chat-room.chat-room',
      {
        filters: {
          members: {
            id: ctx.state.user.id
          }
        }
      }
    );
    
    return rooms;
  }
};
