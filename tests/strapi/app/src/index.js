// The usage guide's code that runs at start, in the tests that run the guide with iohost's
// plugin (IOHOST_GUIDE set): use case 4 (a stats broadcaster started in bootstrap), pattern 1
// (presence listeners) and pattern 2 (a rate-limiting socket.use), all in src/guide/.
// IOHOST_GUIDE_LISTENERS alone runs patterns 1 and 2 (the cluster test).
const listeners = process.env.IOHOST_GUIDE || process.env.IOHOST_GUIDE_LISTENERS;
const guide = listeners
  ? {
      stats: process.env.IOHOST_GUIDE ? require('./guide/stats-broadcaster') : null,
      presence: require('./guide/socket-handlers'),
      rateLimit: require('./guide/rate-limit'),
    }
  : null;

module.exports = {
  register({ strapi }) {
    if (guide) {
      guide.presence.register({ strapi });
      guide.rateLimit.register({ strapi });
    }
  },
  async bootstrap({ strapi }) {
    if (guide?.stats) await guide.stats.bootstrap({ strapi });
  },
};
