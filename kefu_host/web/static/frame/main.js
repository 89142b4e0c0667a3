import { html } from 'htm/preact';
import { render } from 'preact';
import { initLanguage } from '../shared/i18n.js';
import { App } from './app.js';
import { VisitorLink } from './visitor_link.js';

const { parentOrigin, lang } = document.body.dataset;
initLanguage(lang || null);
const link = new VisitorLink(parentOrigin);
render(html`<${App} link=${link} />`, document.getElementById('app'));
link.begin();
