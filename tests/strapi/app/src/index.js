// The usage guide's use case 4 (a stats broadcaster started in bootstrap, src/guide/) runs in the
// tests that run the guide with iohost's plugin (IOHOST_GUIDE set).
const guide = process.env.IOHOST_GUIDE ? require('./guide/stats-broadcaster') : null;

module.exports = {
  register() {},
  async bootstrap({ strapi }) {
    if (guide) await guide.bootstrap({ strapi });
  },
};
