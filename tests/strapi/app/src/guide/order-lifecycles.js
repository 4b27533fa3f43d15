// Copied as written from the usage guide (shared/reference/plugin-io-usage-guide.md), use case 6 (wired in by src/api/order/content-types/order/lifecycles.js when IOHOST_GUIDE is set).
// src/api/order/content-types/order/lifecycles.js
module.exports = {
  async afterUpdate(event) {
    const { result, params } = event;
    
    // Check if status changed
    if (params.data.status) {
      // Notify customer
      const customer = result.customer;
      const sockets = await strapi.$io.getSocketsInRoom(`user-${customer.id}`);
      
      if (sockets.length > 0) {
        strapi.$io.sendPrivateMessage(sockets[0].id, 'order:status-update', {
          orderId: result.id,
          status: result.status,
          statusMessage: getStatusMessage(result.status),
          trackingUrl: result.trackingUrl
        });
      }
      
      // Log event
      strapi.plugin('io').service('monitoring').logEvent('order-update', {
        orderId: result.id,
        status: result.status,
        customerId: customer.id
      });
    }
  }
};

function getStatusMessage(status) {
  const messages = {
    'pending': 'Your order is being processed',
    'confirmed': 'Your order has been confirmed',
    'shipped': 'Your order is on its way!',
    'delivered': 'Your order has been delivered',
    'cancelled': 'Your order has been cancelled'
  };
  return messages[status] || 'Order status updated';
}
