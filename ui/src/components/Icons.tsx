// Small line icons drawn in the text colour (emoji fonts are not everywhere).

export function BellIcon({ off = false, size = 13 }: { off?: boolean; size?: number }) {
  return (
    <svg class="icon" width={size} height={size} viewBox="0 0 16 16" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round" stroke-linejoin="round">
      <path d="M4 11.5V7a4 4 0 0 1 8 0v4.5l1.2 1.2H2.8z" />
      <path d="M6.5 14.2a1.6 1.6 0 0 0 3 0" />
      {off && <path d="M2 2l12 12" />}
    </svg>
  );
}
