// The io plugin's part of Strapi's admin panel: Settings -> iohost, a page with iohost's status
// and the outbox, and the permission matrix that says which role receives which content events.
// Plain JavaScript (no JSX), so the plugin needs no build step of its own.

const PLUGIN_ID = 'io';

export default {
  register(app) {
    app.registerPlugin({ id: PLUGIN_ID, name: 'iohost' });
    app.addSettingsLink(
      { id: 'iohost', intlLabel: { id: 'io.settings.section', defaultMessage: 'iohost' } },
      {
        id: 'iohost-status',
        to: 'iohost',
        intlLabel: { id: 'io.settings.link', defaultMessage: 'Real-time (iohost)' },
        permissions: [],
        Component: () => import('./settings.mjs'),
      },
    );
  },
  bootstrap() {},
  async registerTrads() {
    return [];
  },
};
