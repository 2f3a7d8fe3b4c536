/// The sign-in form: paste a token, pick one of its hospitals. Nothing is sent to the server
/// here; the claims are read locally to offer the token's hospitals.
import { useId, useState, type FormEvent } from 'react';

import { decodeClaims, ROLE_LABEL, type Claims } from './auth';

export function SignIn({ onSignIn, notice }: { onSignIn: (token: string, hospital: string) => void; notice?: string }) {
  const [token, setToken] = useState('');
  const [hospital, setHospital] = useState('');
  const [error, setError] = useState<string | null>(null);
  const ids = { token: useId(), hospital: useId(), error: useId() };

  const decoded = token.trim() ? decodeClaims(token) : null;
  const claims: Claims | null = decoded?.ok ? decoded.claims : null;
  const hospitals = claims?.hospitals ?? [];
  const chosen = hospitals.includes(hospital) ? hospital : hospitals[0] ?? '';

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!decoded) return setError('Paste a token first.');
    if (!decoded.ok) return setError(decoded.error);
    if (!chosen) return setError('This token gives access to no hospital.');
    setError(null);
    onSignIn(token.trim(), chosen);
  }

  return (
    <main className="signin">
      <section className="panel" aria-labelledby="signin-title">
        <h1 id="signin-title">Vigil ward dashboard</h1>
        {notice && <p className="error" role="alert">{notice}</p>}
        <form onSubmit={submit} noValidate>
          <label htmlFor={ids.token}>
            Access token
            <textarea
              id={ids.token}
              value={token}
              onChange={(e) => setToken(e.target.value)}
              spellCheck={false}
              autoComplete="off"
              aria-describedby={`${ids.token}-hint${error ? ` ${ids.error}` : ''}`}
              aria-invalid={error ? true : undefined}
            />
          </label>
          <p className="hint" id={`${ids.token}-hint`}>
            Paste the token you were given. It stays in this browser tab only and is cleared when the tab closes.
          </p>
          {claims && (
            <p className="hint">
              Signed in as <strong>{claims.name ?? claims.sub}</strong> ({ROLE_LABEL[claims.role]}).
            </p>
          )}
          {hospitals.length > 0 && (
            <label htmlFor={ids.hospital}>
              Hospital
              <select id={ids.hospital} value={chosen} onChange={(e) => setHospital(e.target.value)}>
                {hospitals.map((h) => <option key={h} value={h}>{h}</option>)}
              </select>
            </label>
          )}
          {error && <p className="error" id={ids.error} role="alert">{error}</p>}
          <button type="submit" className="btn primary">Open the dashboard</button>
        </form>
      </section>
    </main>
  );
}
