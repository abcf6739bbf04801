// The sign-in form the app shows when the server asks for a token, and the header's badge
// with the signed-in token's name.

import { useState } from 'preact/hooks';
import { signIn, signOut, useAuth } from '../lib/auth';

export function SignIn() {
  const { needed } = useAuth();
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (!needed) return null;
  return (
    <div class="sign-in-backdrop">
      <form
        class="sign-in"
        data-testid="sign-in"
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          const err = await signIn(text);
          setBusy(false);
          setError(err);
          if (!err) {
            setText('');
            // Every page reads again with the token.
            window.location.reload();
          }
        }}
      >
        <h2>Sign in</h2>
        <p>This server asks for a token (a read or admin token from its token file).</p>
        <input
          type="password"
          aria-label="Token"
          data-testid="sign-in-token"
          placeholder="arbor_…"
          autocomplete="off"
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
        />
        {error && (
          <p class="sign-in-error" role="alert" data-testid="sign-in-error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </div>
  );
}

export function SignedIn() {
  const { who, signedIn } = useAuth();
  if (!signedIn || !who?.name) return null;
  return (
    <span
      class="signed-in"
      data-testid="signed-in"
      title={`grants ${who.grants?.join(', ') ?? ''}${who.scope ? `; sees only spans of ${who.scope}` : ''}`}
    >
      {who.name}
      {who.scope && (
        <span class="signed-in-scope" data-testid="signed-in-scope">
          {' '}
          · {who.scope}
        </span>
      )}
      <button
        type="button"
        class="icon-button"
        aria-label="Sign out"
        onClick={() => {
          signOut();
          window.location.reload();
        }}
      >
        ⎋
      </button>
    </span>
  );
}
