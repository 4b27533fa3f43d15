module.exports = ({ env }) => ({
  // The admin JSON endpoints work without building the admin panel (saves ~30 s per start);
  // the test of the io plugin's settings page builds it (scripts/lib.sh ensure_strapi_admin)
  // and serves it.
  serveAdminPanel: env.bool('SERVE_ADMIN_PANEL', false),
  auth: { secret: env('ADMIN_JWT_SECRET') },
  apiToken: { salt: env('API_TOKEN_SALT') },
  transfer: { token: { salt: env('TRANSFER_TOKEN_SALT') } },
  secrets: { encryptionKey: env('ENCRYPTION_KEY') },
  // Every iohost a test starts signs in as the admin (API tokens, schemas, permissions): more
  // than Strapi's default of 5 sign-ins per 5 minutes from one address and email.
  rateLimit: { enabled: true, interval: { min: 5 }, max: 100 },
});
