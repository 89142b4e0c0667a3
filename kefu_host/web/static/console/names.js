import { t } from '../shared/i18n.js';

export function customerName(conv) {
  return conv.customer?.name || t('customer.anonymous', { id: conv.customer_id ?? '?' });
}
