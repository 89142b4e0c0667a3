import { html } from 'htm/preact';
import { t } from '../shared/i18n.js';

// The visitor's satisfaction rating of a closed conversation: the score, and with `comment` what they wrote (text).
export function RatingBadge({ rating, comment = false }) {
  if (!rating) return null;
  return html`<span class="rating" data-score=${rating.score}>
    <span class="rating-score">${t('rating.given', { score: rating.score })}</span>
    ${comment && rating.comment && html` <q class="rating-comment">${rating.comment}</q>`}
  </span>`;
}
