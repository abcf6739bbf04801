// Service colours: calm, distinct hues, given in the order services are first seen (so
// the services of one trace differ), the same for a service everywhere in the session.
// Red is kept for errors.

const HUES = [208, 152, 36, 266, 186, 96, 318, 54, 232, 124, 292, 172, 20, 246, 76, 336];
const assigned = new Map<string, number>();

export function serviceHue(service: string): number {
  let i = assigned.get(service);
  if (i === undefined) {
    i = assigned.size;
    assigned.set(service, i);
  }
  const round = Math.floor(i / HUES.length);
  return (HUES[i % HUES.length]! + round * 11) % 360;
}

/** The CSS colour of a service (lightness comes from the theme's --svc-l variable). */
export function serviceColor(service: string): string {
  return `hsl(${serviceHue(service)} var(--svc-s) var(--svc-l))`;
}

/** A concrete colour for canvas drawing. */
export function serviceColorFor(service: string, dark: boolean): string {
  return `hsl(${serviceHue(service)} ${dark ? 42 : 48}% ${dark ? 58 : 56}%)`;
}
