// i18n.js — language, text lookup and number format for both pages. Texts: web/i18n/<file>.js, one
// per part of the site (the live page loads only its own), registered by the modules that use them.
// The language: ?lang=, else the reader's last choice (shared by both pages), else the browser's.
const LANG_KEY = 'catdog-lang';
let lang = 'es';
const TEXT = {};  // module -> { es: {key: text}, en: {...} }

export function register(module, texts) {
  TEXT[module] = texts;
}

export function initLanguage(params = new URLSearchParams()) {
  let stored = null;
  try { stored = globalThis.localStorage?.getItem(LANG_KEY) ?? null; } catch { /* private mode */ }
  const want = params.get('lang') || stored || globalThis.navigator?.language || 'es';
  lang = want.toLowerCase().startsWith('es') ? 'es' : 'en';
  return lang;
}

// The reader's choice, kept for the next visit.
export function setLanguage(l) {
  lang = l === 'es' ? 'es' : 'en';
  try { globalThis.localStorage?.setItem(LANG_KEY, lang); } catch { /* private mode: this visit only */ }
  return lang;
}

export const language = () => lang;

// A module's texts in language `l` (English where Spanish lacks a key).
export const table = (module, l = lang) => ({ ...TEXT[module].en, ...TEXT[module][l] });

// t('module.key', vars): {0}, {1} ... from an array, {name} from an object.
export function t(key, vars = [], l = lang) {
  const dot = key.indexOf('.');
  const mod = TEXT[key.slice(0, dot)];
  const name = key.slice(dot + 1);
  const s = mod?.[l]?.[name] ?? mod?.en?.[name] ?? key;
  return typeof s !== 'string' ? s : s.replace(/\{(\w+)\}/g, (_, k) => String(vars?.[k] ?? ''));
}

// A class label's kind (case-insensitive): 'cat', 'dog', 'neither' (also other / none / background),
// else null: a label the page shows as named (as text). The page's words for a kind are its i18n keys.
export const kindOf = (label) => {
  const l = String(label).toLowerCase();
  return l === 'cat' || l === 'dog' ? l : /^(neither|other|none|background)$/.test(l) ? 'neither' : null;
};

// const tx = scoped('marks'); tx('count', 3, 4)
export const scoped = (module) => (key, ...args) => t(`${module}.${key}`, args);

// Numbers as the reader writes them (0.950 / 0,950; 94.8% / 94,8 %); '—' when not finite.
const formats = new Map();
function format(v, opts) {
  if (!Number.isFinite(v)) return '—';
  const k = lang + JSON.stringify(opts);
  if (!formats.has(k)) formats.set(k, new Intl.NumberFormat(lang === 'es' ? 'es-ES' : 'en-US', opts));
  return formats.get(k).format(v);
}
export const fmtNum = (v, digits = 3) => format(v, { minimumFractionDigits: digits, maximumFractionDigits: digits, useGrouping: false });
export const fmtPct = (v, digits = 1) => format(v, { style: 'percent', minimumFractionDigits: digits, maximumFractionDigits: digits });
