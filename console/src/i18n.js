// i18n.js - the two dictionaries (zh-CN, the default, and English) and the t() lookup.
// The choice is kept in localStorage under "gzy.lang". Every user-visible string of the
// console comes from here; tests check both dictionaries have the same keys.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { zh } from './i18n-zh.js';
import { en } from './i18n-en.js';

export const DICTS = { 'zh-CN': zh, en };
export const LANGS = [['zh-CN', '中文'], ['en', 'English']];
const STORAGE_KEY = 'gzy.lang';

export function initialLang() {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    if (v && DICTS[v]) return v;
  } catch { /* storage unavailable */ }
  return 'zh-CN';
}

export function storeLang(lang) {
  try { localStorage.setItem(STORAGE_KEY, lang); } catch { /* ignore */ }
  document.documentElement.lang = lang;
}

/* t(key, {name: value}, fallback): {name} placeholders are replaced. */
export function makeT(lang) {
  const dict = DICTS[lang] || zh;
  return (key, params, fallback) => {
    let s = dict[key];
    if (s === undefined) s = en[key];
    if (s === undefined) s = fallback !== undefined ? fallback : key;
    if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] !== undefined ? String(params[k]) : m));
    return s;
  };
}

export const LangContext = createContext({ lang: 'zh-CN', t: makeT('zh-CN') });

export function useT() {
  return useContext(LangContext).t;
}
