import { html } from 'htm/preact';
import { language, t } from '../shared/i18n.js';
import { CustomerEvents } from './customer_events.js';

function money(value) {
  return new Intl.NumberFormat(language() === 'zh' ? 'zh-CN' : 'en', { minimumFractionDigits: 2,
    maximumFractionDigits: 2 }).format(value);
}

function show(value) {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

// The customer of the open conversation, as the `assigned` frame gave it and `profile_update` frames refresh it.
// Fields the last update changed are marked, so the agent sees what just happened.
export function CustomerPanel({ conv }) {
  if (!conv) return html`<section class="customer" aria-labelledby="customer-title">
    <h2 id="customer-title">${t('customer.title')}</h2><p class="empty">${t('customer.none')}</p></section>`;
  const c = conv.customer;
  const changed = new Set(conv.changed || []);
  const mark = (...fields) => (fields.some((f) => changed.has(f)) ? 'changed' : '');
  if (!c) return html`<section class="customer" aria-labelledby="customer-title">
    <h2 id="customer-title">${t('customer.title')}</h2>
    <p>${t('customer.anonymous', { id: conv.customer_id ?? '?' })}</p>
    ${conv.events === null && html`<p class="hint">${t('customer.loading')}</p>`}</section>`;
  const attributes = Object.entries(c.attributes || {});
  return html`<section class="customer" aria-labelledby="customer-title" data-customer-id=${c.id}>
    <h2 id="customer-title">${t('customer.title')}</h2>
    <p class=${`customer-name ${mark('name')}`} data-field="name">${c.name || t('customer.anonymous', { id: c.id })}</p>
    ${c.vip_level > 0 && html`<p class=${`vip ${mark('vip_level')}`} data-field="vip_level">
      ${t('customer.vip', { level: c.vip_level })}</p>`}
    <dl class="facts">
      <dt>${t('customer.ltv')}</dt><dd class=${mark('ltv')} data-field="ltv">${money(c.ltv ?? 0)}</dd>
      ${c.uid && html`<dt>${t('customer.uid')}</dt><dd data-field="uid">${c.uid}</dd>`}
      ${c.email && html`<dt>${t('customer.email')}</dt><dd class=${mark('email')} data-field="email">${c.email}</dd>`}
      ${c.phone && html`<dt>${t('customer.phone')}</dt><dd class=${mark('phone')} data-field="phone">${c.phone}</dd>`}
      ${c.owner && html`<dt>${t('customer.owner')}</dt><dd data-field="owner">${c.owner}</dd>`}
    </dl>
    ${c.tags?.length > 0 && html`<ul class=${`tags ${mark('tags')}`} aria-label=${t('customer.tags')}>
      ${c.tags.map((tag) => html`<li key=${tag}>${tag}</li>`)}</ul>`}
    ${attributes.length > 0 && html`<h3>${t('customer.attributes')}</h3>
      <dl class="attributes">
        ${attributes.map(([key, value]) => html`<dt>${key}</dt>
          <dd class=${mark(`attributes.${key}`)}>${show(value)}</dd>`)}
      </dl>`}
    <${CustomerEvents} events=${conv.events} fresh=${conv.freshEvents} />
  </section>`;
}
