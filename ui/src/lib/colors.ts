// Service colours: calm, distinct hues, chosen by a hash of the service's name, so a
// service has the same colour on every page, in every trace and after every reload.
// Red is kept for errors.

const HUES = [208, 152, 36, 266, 186, 96, 318, 54, 232, 124, 292, 172, 20, 246, 76, 336];
const cache = new Map<string, number>();

/** FNV-1a, 32 bits, of the name's UTF-16 code units. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function serviceHue(service: string): number {
  let hue = cache.get(service);
  if (hue === undefined) {
    const h = hash(service);
    // One of the palette's hues, shifted a little by more bits of the hash so that two
    // names on the same palette hue still tend to differ.
    hue = (HUES[h % HUES.length]! + (((h >>> 8) % 3) - 1) * 6 + 360) % 360;
    cache.set(service, hue);
  }
  return hue;
}

/** The CSS colour of a service (lightness comes from the theme's --svc-l variable). */
export function serviceColor(service: string): string {
  return `hsl(${serviceHue(service)} var(--svc-s) var(--svc-l))`;
}

/** A concrete colour for canvas drawing. */
export function serviceColorFor(service: string, dark: boolean): string {
  return `hsl(${serviceHue(service)} ${dark ? 42 : 48}% ${dark ? 58 : 56}%)`;
}
