import { html } from 'htm/preact';
import { render } from 'preact';
import { initLanguage } from '../shared/i18n.js';
import { App } from './app.js';

initLanguage();
render(html`<${App} />`, document.getElementById('app'));
