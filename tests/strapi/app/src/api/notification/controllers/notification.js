// Copied as written from the usage guide (shared/reference/plugin-io-usage-guide.md), use case 2.
// src/api/notification/controllers/notification.js
module.exports = {
  async create(ctx) {
    const { userId, message, type } = ctx.request.body;
    
    // Save notification to DB
    const notification = await strapi.entityService.create(
      'api::notification.notification',
      {
        data: {
          user: userId,
          message,
          type,
          read: false
        }
      }
    );
    
    // Get user's socket room
    const sockets = await strapi.$io.getSocketsInRoom(`user-${userId}`);
    
    // Send real-time notification
    if (sockets.length > 0) {
      strapi.$io.sendPrivateMessage(sockets[0].id, 'notification', {
        id: notification.id,
        message,
        type,
        timestamp: Date.now()
      });
    }
    
    return notification;
  }
};
