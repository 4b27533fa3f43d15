// Copied as written from the usage guide (shared/reference/plugin-io-usage-guide.md), use case 5.
// src/api/document/controllers/document.js
module.exports = {
  async startEditing(ctx) {
    const { documentId } = ctx.params;
    const user = ctx.state.user;
    
    // Join document room
    const stats = strapi.plugin('io').service('monitoring').getConnectionStats();
    const userSocket = stats.sockets.find(s => s.user?.id === user.id);
    
    if (userSocket) {
      strapi.$io.joinRoom(userSocket.id, `document-${documentId}`);
      
      // Notify others
      strapi.$io.server.to(`document-${documentId}`).emit('editor:joined', {
        userId: user.id,
        username: user.username,
        avatar: user.avatar?.url
      });
    }
    
    // Get active editors
    const editors = await strapi.$io.getSocketsInRoom(`document-${documentId}`);
    
    return {
      documentId,
      activeEditors: editors.map(e => e.user).filter(Boolean)
    };
  },
  
  async broadcastChange(ctx) {
    const { documentId, changes } = ctx.request.body;
    const user = ctx.state.user;
    
    // Broadcast changes to other editors (exclude sender)
    const stats = strapi.plugin('io').service('monitoring').getConnectionStats();
    const userSocket = stats.sockets.find(s => s.user?.id === user.id);
    
    if (userSocket) {
      strapi.$io.broadcast(userSocket.id, 'document:change', {
        documentId,
        changes,
        author: {
          id: user.id,
          username: user.username
        },
        timestamp: Date.now()
      });
    }
    
    return { success: true };
  }
};
