// Service colours: calm, distinct hues, chosen by a hash of the service's name, so a
// service has the same colour on every page, in every trace and after every reload.
// Red is kept for errors.

/** Twelve well-separated hues, red (and the reds next to it) kept for errors… */
const HUES = [35, 55, 85, 120, 150, 175, 195, 215, 235, 260, 285, 310];
/** …each at three lightnesses (percentage points added to the theme's): 36 colours. */
const SHADES = [0, -9, 9];
const cache = new Map<string, [number, number]>();

/** FNV-1a, 32 bits, of the name's UTF-16 code units. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function pick(service: string): [number, number] {
  let c = cache.get(service);
  if (c === undefined) {
    // A murmur-style finaliser mixes the hash's bits before they pick hue and shade.
    let h = hash(service);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h = (h ^ (h >>> 16)) >>> 0;
    c = [HUES[h % HUES.length]!, SHADES[Math.floor(h / HUES.length) % SHADES.length]!];
    cache.set(service, c);
  }
  return c;
}

export function serviceHue(service: string): number {
  return pick(service)[0];
}

/** The CSS colour of a service (lightness comes from the theme's --svc-l variable). */
export function serviceColor(service: string): string {
  const [hue, shade] = pick(service);
  return shade === 0 ? `hsl(${hue} var(--svc-s) var(--svc-l))` : `hsl(${hue} var(--svc-s) calc(var(--svc-l) + ${shade}%))`;
}

/** A concrete colour for canvas drawing. */
export function serviceColorFor(service: string, dark: boolean): string {
  const [hue, shade] = pick(service);
  return `hsl(${hue} ${dark ? 42 : 48}% ${(dark ? 58 : 56) + shade}%)`;
}
