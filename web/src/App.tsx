/// Top level: sign-in until there is a usable token, then the dashboard for the chosen hospital.
import { useEffect, useState } from 'react';

import { decodeClaims, signOut, storedHospital, storedToken, storeHospital, storeToken, type Session } from './auth';
import { Dashboard } from './Dashboard';
import { SignIn } from './SignIn';

function loadSession(): { session: Session | null; notice?: string } {
  const token = storedToken();
  if (!token) return { session: null };
  const decoded = decodeClaims(token);
  if (!decoded.ok) {
    signOut();
    return { session: null, notice: decoded.error };
  }
  const wanted = storedHospital();
  const hospital = wanted && decoded.claims.hospitals.includes(wanted) ? wanted : decoded.claims.hospitals[0];
  if (!hospital) {
    signOut();
    return { session: null, notice: 'This token gives access to no hospital.' };
  }
  const notice = wanted && wanted !== hospital ? `This token has no access to hospital ${wanted}.` : undefined;
  storeHospital(hospital);
  return { session: { token, claims: decoded.claims, hospital }, notice };
}

export function App() {
  const [state, setState] = useState(loadSession);
  const session = state.session;

  // Back to the sign-in form when the token expires (the server would refuse every call).
  useEffect(() => {
    if (!session) return;
    const ms = session.claims.exp * 1000 - Date.now();
    const t = setTimeout(() => {
      signOut();
      setState({ session: null, notice: 'Your token has expired. Paste a new one.' });
    }, Math.max(0, Math.min(ms, 2 ** 31 - 1)));
    return () => clearTimeout(t);
  }, [session]);

  if (!session) {
    return (
      <SignIn
        notice={state.notice}
        onSignIn={(token, hospital) => {
          storeToken(token);
          storeHospital(hospital);
          setState(loadSession());
        }}
      />
    );
  }
  return (
    <Dashboard
      key={session.token}
      session={session}
      onHospital={(h) => { storeHospital(h); setState(loadSession()); }}
      onSignOut={() => { signOut(); setState({ session: null }); }}
    />
  );
}
