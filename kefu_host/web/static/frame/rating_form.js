import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { t } from '../shared/i18n.js';

const MAX_COMMENT = 1000;

function scoreNames() {
  return [t('rating.very_poor'), t('rating.poor'), t('rating.okay'), t('rating.good'), t('rating.excellent')];
}

// Once a conversation has closed: 1-5 as a radio group (arrow keys move between the stars, as for any radio
// group) and an optional comment. After the host has stored it, a thank-you and a way to change it while the
// host's window for ratings is open.
export function RatingForm({ state, onRate }) {
  const { rating, rateUntil } = state;
  const [editing, setEditing] = useState(false);
  const [score, setScore] = useState(0);
  const [comment, setComment] = useState('');
  if (!rateUntil || Date.parse(rateUntil) <= Date.now()) return null;
  if (rating && !editing) {
    return html`<section class="rating done" aria-labelledby="rating-thanks" data-score=${rating.score}>
      <p id="rating-thanks" role="status">${t('rating.thanks', { score: rating.score })}</p>
      ${rating.comment && html`<p class="rating-comment">${rating.comment}</p>`}
      <button type="button" class="link" onClick=${() => {
        setScore(rating.score);
        setComment(rating.comment || '');
        setEditing(true);
      }}>${t('rating.change')}</button>
    </section>`;
  }
  const sending = state.ratingRef !== null;
  const submit = (event) => {
    event.preventDefault();
    if (!score || sending) return;
    onRate(score, comment.trim());
    setEditing(false);
  };
  const names = scoreNames();
  return html`<form class="rating" onSubmit=${submit} data-rating-form="">
    <fieldset>
      <legend>${t('rating.legend')}</legend>
      <div class="stars">
        ${names.map((name, n) => {
          const value = n + 1;
          return html`<span class="star">
            <input type="radio" class="visually-hidden" name="rating-score" id=${`rating-${value}`} value=${value}
              checked=${score === value} onChange=${() => setScore(value)} />
            <label for=${`rating-${value}`} class=${value <= score ? 'lit' : ''} title=${name}>
              <span aria-hidden="true">★</span><span class="visually-hidden">${`${value} – ${name}`}</span>
            </label>
          </span>`;
        })}
      </div>
    </fieldset>
    <label for="rating-comment">${t('rating.comment')}</label>
    <textarea id="rating-comment" rows="2" maxlength=${MAX_COMMENT} value=${comment}
      onInput=${(e) => setComment(e.currentTarget.value)}></textarea>
    ${state.ratingError && html`<p class="error" role="alert">${t('notice.error', state.ratingError)}</p>`}
    <button type="submit" disabled=${!score || sending}>${sending ? t('msg.pending') : t('rating.submit')}</button>
  </form>`;
}
