const { notifyPremiumUsers } = require('../../../guide/premium');

module.exports = {
  connectionStats(ctx) {
    const stats = strapi.plugin('io').service('monitoring').getConnectionStats();
    // Copied into a plain object: returning the stats themselves would await them (a fresh
    // answer from iohost), and the point here is the synchronous one.
    ctx.body = JSON.parse(JSON.stringify(stats));
  },
  async premium(ctx) {
    await notifyPremiumUsers(ctx.request.body.message);
    ctx.body = { success: true };
  },
};
