// Copied as written from the usage guide (shared/reference/plugin-io-usage-guide.md), pattern 3 (the export line added).
// Broadcast to specific user groups
async function notifyPremiumUsers(message) {
  const premiumUsers = await strapi.db.query('plugin::users-permissions.user').findMany({
    where: { isPremium: true }
  });
  
  const stats = strapi.plugin('io').service('monitoring').getConnectionStats();
  
  premiumUsers.forEach(user => {
    const userSocket = stats.sockets.find(s => s.user?.id === user.id);
    if (userSocket) {
      strapi.$io.sendPrivateMessage(userSocket.id, 'premium:notification', {
        message,
        type: 'exclusive',
        timestamp: Date.now()
      });
    }
  });
}

module.exports = { notifyPremiumUsers };
