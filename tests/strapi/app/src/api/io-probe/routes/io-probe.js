// For the tests: what the io plugin's monitoring service answers synchronously (its mirror of
// iohost's sockets), as backend code written for strapi-plugin-io reads it; and a route that
// runs the usage guide's pattern 3 (src/guide/premium.js).
module.exports = {
  routes: [
    { method: 'GET', path: '/io-probe/connection-stats', handler: 'io-probe.connectionStats', config: { auth: false } },
    { method: 'POST', path: '/io-probe/premium', handler: 'io-probe.premium' },
  ],
};
