import { useEffect, useState } from 'preact/hooks';
import en from './messages_en.js';
import zh from './messages_zh.js';

// The message catalogues and the page's language: the visitor's or agent's own choice (kept in localStorage),
// else the embedding site's hint (the widget's data-lang), else the browser's languages, else English.
export const CATALOGUES = { en, zh };
export const LANGUAGE_NAMES = { zh: '中文', en: 'English' };
const STORAGE_KEY = 'kefu.lang';
const HTML_LANG = { zh: 'zh-CN', en: 'en' };
const listeners = new Set();
let current = 'en';

function normalise(tag) {
  if (!tag) return null;
  const base = String(tag).toLowerCase().split('-')[0];
  return Object.hasOwn(CATALOGUES, base) ? base : null;
}

export function chooseLanguage({ stored, hint, preferred = [] }) {
  for (const candidate of [stored, hint, ...preferred]) {
    const lang = normalise(candidate);
    if (lang) return lang;
  }
  return 'en';
}

function storedLanguage() {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage blocked (a third-party frame in a strict browser): the choice lasts for this page
  }
}

export function initLanguage(hint) {
  const preferred = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language];
  current = chooseLanguage({ stored: storedLanguage(), hint, preferred });
  document.documentElement.lang = HTML_LANG[current];
  return current;
}

export function setLanguage(lang) {
  if (!Object.hasOwn(CATALOGUES, lang)) return;
  current = lang;
  try {
    localStorage.setItem(STORAGE_KEY, lang);
  } catch {
    // see storedLanguage
  }
  document.documentElement.lang = HTML_LANG[lang];
  for (const listener of listeners) listener(lang);
}

export function language() {
  return current;
}

export function t(key, params = {}) {
  const text = CATALOGUES[current][key] ?? CATALOGUES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (Object.hasOwn(params, name) ? String(params[name]) : whole));
}

// Re-render the calling component (the page's root) when the language changes.
export function useLanguage() {
  const [lang, setLang] = useState(current);
  useEffect(() => {
    listeners.add(setLang);
    return () => listeners.delete(setLang);
  }, []);
  return lang;
}
