module.exports = ({ env }) => ({
  'users-permissions': {
    config: {
      // 'legacy-support' issues {id} JWTs; 'refresh' issues {userId, type: "access"} ones.
      jwtManagement: env('JWT_MANAGEMENT', 'legacy-support'),
      jwtSecret: env('JWT_SECRET'),
    },
  },
});
