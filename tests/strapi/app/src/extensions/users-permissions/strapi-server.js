// The usage guide's presence pattern keeps users' isOnline / lastSeen in Strapi: the test app's
// users get those two fields (the presence handler sets them through iohost's `strapi` import).
module.exports = (plugin) => {
  const attributes = plugin.contentTypes.user.schema.attributes;
  attributes.isOnline = { type: 'boolean', default: false };
  attributes.lastSeen = { type: 'datetime' };
  // The usage guide's pattern 3 (room-based broadcasting) notifies premium users.
  attributes.isPremium = { type: 'boolean', default: false };
  return plugin;
};
