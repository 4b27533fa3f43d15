// Copied as written from the usage guide (shared/reference/plugin-io-usage-guide.md), pattern 2. The guide shows it loose; here it runs in
// register({ strapi }) (called by src/index.js's register when IOHOST_GUIDE is set).
module.exports = {
  register({ strapi }) {
    // Prevent abuse of custom events
    const rateLimiters = new Map();

    strapi.$io.server.on('connection', (socket) => {
      rateLimiters.set(socket.id, {
        count: 0,
        resetAt: Date.now() + 60000 // 1 minute
      });

      socket.use((packet, next) => {
        const limiter = rateLimiters.get(socket.id);
        const now = Date.now();

        if (now > limiter.resetAt) {
          limiter.count = 0;
          limiter.resetAt = now + 60000;
        }

        limiter.count++;

        if (limiter.count > 60) { // Max 60 events per minute
          return next(new Error('Rate limit exceeded'));
        }

        next();
      });

      socket.on('disconnect', () => {
        rateLimiters.delete(socket.id);
      });
    });
  },
};
