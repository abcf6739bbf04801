// Light and dark themes: the system's choice until the user picks one (kept in localStorage).

import { useEffect, useState } from 'preact/hooks';

export type Theme = 'light' | 'dark';
const KEY = 'arbor.theme';
const listeners = new Set<(t: Theme) => void>();

function initial(): Theme {
  const saved = localStorage.getItem(KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return window.matchMedia?.('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

let theme: Theme = initial();
document.documentElement.dataset.theme = theme;

export function setTheme(t: Theme) {
  theme = t;
  localStorage.setItem(KEY, t);
  document.documentElement.dataset.theme = t;
  for (const l of listeners) l(t);
}

export function useTheme(): Theme {
  const [t, setT] = useState(theme);
  useEffect(() => {
    listeners.add(setT);
    return () => void listeners.delete(setT);
  }, []);
  return t;
}
