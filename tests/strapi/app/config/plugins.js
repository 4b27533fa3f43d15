module.exports = ({ env }) => ({
  'users-permissions': {
    config: {
      // 'legacy-support' issues {id} JWTs; 'refresh' issues {userId, type: "access"} ones.
      jwtManagement: env('JWT_MANAGEMENT', 'legacy-support'),
      jwtSecret: env('JWT_SECRET'),
    },
  },
  // iohost's plugin, installed from this repository (strapi-plugin/): strapi.$io over iohost's
  // API. The tests that use it set IOHOST_URL and IOHOST_API_KEY; the others leave them unset.
  io: {
    enabled: true,
    config: {
      url: env('IOHOST_URL', ''),
      apiKey: env('IOHOST_API_KEY', ''),
      mirror: { intervalMs: 250 },
      // Which types send content events, with what populate (the plugin oracle sets it).
      contentTypes: env.json('IOHOST_CONTENT_TYPES', '*'),
      outbox: { maxEvents: env.int('IOHOST_OUTBOX_MAX', 10000), retryMaxMs: 5000 },
    },
  },
});
