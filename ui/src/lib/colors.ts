// Service colours: calm, distinct hues, chosen by a hash of the service's name, so a
// service has the same colour on every page, in every trace and after every reload.
// Red is kept for errors.
//
// Two names can hash to the same colour. A page shows its services with `distinctColors`:
// among them, names whose colours clash are ordered by hash (then name), the first keeps
// its colour and the others move to the next colour none of them has (another hue first).
// So a name always has its own colour unless it shares the screen with a name that clashes
// with it and comes first: then it takes the same other colour every time.

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

/** The name's hash, mixed by a murmur-style finaliser before it picks hue and shade. */
function mixed(service: string): number {
  let h = hash(service);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const SLOTS = HUES.length * SHADES.length;
/** A colour as one number: hue index + 12 × shade index. */
const slotOf = (h: number) => (h % HUES.length) + HUES.length * (Math.floor(h / HUES.length) % SHADES.length);
const colourOf = (slot: number): [number, number] => [HUES[slot % HUES.length]!, SHADES[Math.floor(slot / HUES.length)]!];

/** Colours moved off a clash by `distinctColors`, by name. */
const moved = new Map<string, number>();

function pick(service: string): [number, number] {
  let c = cache.get(service);
  if (c === undefined) {
    c = colourOf(moved.get(service) ?? slotOf(mixed(service)));
    cache.set(service, c);
  }
  return c;
}

/**
 * Makes the colours of these services (those on screen) distinct from each other, as far
 * as the 36 colours go. Call it before drawing them; cheap when nothing clashes.
 */
export function distinctColors(services: Iterable<string>) {
  const names = [...new Set(services)].map((n) => ({ n, h: mixed(n) })).sort((a, b) => a.h - b.h || (a.n < b.n ? -1 : a.n > b.n ? 1 : 0));
  const taken = new Set<number>();
  const hues = new Set<number>();
  const clashed: { n: string; slot: number }[] = [];
  for (const { n, h } of names) {
    const slot = slotOf(h);
    if (taken.has(slot)) clashed.push({ n, slot });
    else {
      taken.add(slot);
      hues.add(slot % HUES.length);
      if (moved.delete(n)) cache.delete(n);
    }
  }
  for (const { n, slot } of clashed) {
    // The next free colour, 5 hues on each step (5 and 36 share no factor: every colour is
    // reached); a hue none of them has first.
    const order = Array.from({ length: SLOTS }, (_, k) => (slot + 5 * k) % SLOTS);
    const free = order.find((x) => !taken.has(x) && !hues.has(x % HUES.length)) ?? order.find((x) => !taken.has(x)) ?? slot;
    taken.add(free);
    hues.add(free % HUES.length);
    if (moved.get(n) !== free) {
      moved.set(n, free);
      cache.delete(n);
    }
  }
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
