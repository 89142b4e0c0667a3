import { t } from '../shared/i18n.js';

const SHOWN = 8;

// What the composer offers for its text: when it starts with `/`, the canned replies whose shortcut or text holds
// what follows (shortcuts that start with it first). Anything else offers nothing.
export function cannedSuggest(replies) {
  return (text) => {
    if (!text.startsWith('/') || text.includes('\n') || !replies.length) return null;
    const query = text.slice(1).trim().toLowerCase();
    const scored = [];
    for (const reply of replies) {
      const shortcut = reply.shortcut.toLowerCase();
      const score = shortcut.startsWith(query) ? 0 : shortcut.includes(query) ? 1
        : reply.body.toLowerCase().includes(query) ? 2 : -1;
      if (score >= 0) scored.push([score, reply]);
    }
    scored.sort((a, b) => a[0] - b[0]);
    return scored.slice(0, SHOWN).map(([, reply]) => ({
      id: reply.id,
      label: `/${reply.shortcut}`,
      detail: reply.body,
      tag: reply.scope === 'team' ? reply.team : t('canned.personal'),
      value: reply.body,
    }));
  };
}
