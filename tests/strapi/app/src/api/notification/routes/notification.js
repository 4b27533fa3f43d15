// The route of the usage guide's use case 2 controller (the guide shows the controller only).
module.exports = {
  routes: [{ method: 'POST', path: '/notifications', handler: 'notification.create' }],
};
