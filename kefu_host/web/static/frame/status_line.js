import { html } from 'htm/preact';
import { t } from '../shared/i18n.js';

// Where the visitor stands, in one line: connecting, waiting (and their place in the queue), who is helping, ended,
// or that nobody is online to chat.
export function statusText(state) {
  const connection = state.connection.state;
  if (connection === 'refused') return t('widget.refused');
  if (connection !== 'open') return state.transcript.items.length ? t('widget.reconnecting') : t('widget.connecting');
  if (state.status === 'queued') {
    return state.position ? t('widget.queue_position', { position: state.position }) : t('widget.waiting');
  }
  if (state.status === 'assigned') return state.agent ? t('widget.agent', { name: state.agent }) : t('widget.agent_joined');
  if (state.status === 'closed') return t('widget.closed');
  if (state.agentsOnline === false) return t('widget.offline');
  return t('widget.hello');
}

export function StatusLine({ state }) {
  return html`<p class="status" role="status" data-connection=${state.connection.state}
    data-conversation-status=${state.status ?? 'none'}>${statusText(state)}</p>`;
}
