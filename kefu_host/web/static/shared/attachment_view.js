import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { formatSize } from './files.js';
import { t } from './i18n.js';

// An attachment in the transcript: an image's preview, or the file's name, size and a download button. The name
// is a text node like every other user-provided string; the image is a blob: URL of the bytes the host sniffed as
// an image, which an <img> only ever draws.
export function AttachmentView({ attachment, files }) {
  const name = html`<span class="file-name">${attachment.name}</span>`;
  const meta = html`<span class="file-size">${formatSize(attachment.size)}</span>`;
  const download = html`<button type="button" class="link" onClick=${() => files.download(attachment)}>
    ${t('file.download')}<span class="visually-hidden"> ${attachment.name}</span></button>`;
  return html`<div class="attachment" data-content-type=${attachment.content_type}>
    ${attachment.image && html`<${Preview} attachment=${attachment} files=${files} />`}
    <p class="file">${name} ${meta} ${download}</p>
  </div>`;
}

function Preview({ attachment, files }) {
  const [src, setSrc] = useState(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    let live = true;
    files.url(attachment.url).then((href) => live && setSrc(href), () => live && setFailed(true));
    return () => {
      live = false;
    };
  }, [attachment.url, files]);
  if (failed) return html`<p class="file-state error">${t('file.failed')}</p>`;
  if (!src) return html`<p class="file-state">${t('file.loading')}</p>`;
  return html`<img class="preview" src=${src} alt=${attachment.name} />`;
}
