// Copied as written from the usage guide (shared/reference/plugin-io-usage-guide.md), use case 4 (run by src/index.js when IOHOST_GUIDE is set).
// src/index.js
const cron = require('node-cron');

module.exports = {
  async bootstrap({ strapi }) {
    // Broadcast stats every 5 seconds
    cron.schedule('*/5 * * * * *', async () => {
      try {
        const monitoringService = strapi.plugin('io').service('monitoring');
        const connectionStats = monitoringService.getConnectionStats();
        
        // Get business metrics
        const [userCount, articleCount, orderCount] = await Promise.all([
          strapi.db.query('plugin::users-permissions.user').count(),
          strapi.db.query('api::article.article').count(),
          strapi.db.query('api::order.order').count({
            where: {
              createdAt: {
                $gte: new Date(Date.now() - 24 * 60 * 60 * 1000) // Last 24h
              }
            }
          })
        ]);
        
        // Broadcast to admin namespace
        strapi.$io.emitToNamespace('admin', 'dashboard:stats', {
          connections: {
            active: connectionStats.connected,
            rooms: connectionStats.rooms.length
          },
          metrics: {
            users: userCount,
            articles: articleCount,
            ordersToday: orderCount
          },
          timestamp: Date.now()
        });
      } catch (error) {
        strapi.log.error('Stats broadcast failed:', error);
      }
    });
  }
};
