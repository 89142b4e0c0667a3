import { html } from 'htm/preact';
import { LANGUAGE_NAMES, language, setLanguage, t } from './i18n.js';

export function LangSwitch({ id = 'lang-switch' }) {
  return html`<span class="lang-switch">
    <label for=${id}>${t('lang.label')}</label>
    <select id=${id} value=${language()} onChange=${(e) => setLanguage(e.currentTarget.value)}>
      ${Object.entries(LANGUAGE_NAMES).map(([code, name]) => html`<option value=${code} lang=${code}>${name}</option>`)}
    </select>
  </span>`;
}
