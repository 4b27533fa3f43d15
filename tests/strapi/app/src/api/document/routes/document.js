// Routes for the usage guide's use case 5 controller (the guide shows the controller only).
module.exports = {
  routes: [
    { method: 'POST', path: '/documents/:documentId/start-editing', handler: 'document.startEditing' },
    { method: 'POST', path: '/documents/change', handler: 'document.broadcastChange' },
  ],
};
