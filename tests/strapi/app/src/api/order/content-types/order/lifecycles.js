// The usage guide's use case 6 lifecycle (src/guide/order-lifecycles.js) in the tests that run
// the guide with iohost's plugin (IOHOST_GUIDE set); the other tests update orders without it.
module.exports = process.env.IOHOST_GUIDE ? require('../../../../guide/order-lifecycles') : {};
