/// Sign-in state: the token comes from the sign-in form or the URL fragment
/// (`#token=<jwt>&hospital=<id>`), lives in sessionStorage only, and its claims are decoded here
/// without verification (the server verifies every call; the claims only shape the screen).

export type Role = 'admin' | 'head_doctor' | 'doctor' | 'nurse' | 'operator' | 'viewer';

export const ROLES: readonly Role[] = ['admin', 'head_doctor', 'doctor', 'nurse', 'operator', 'viewer'];

export interface Claims {
  sub: string;
  name: string | null;
  role: Role;
  hospitals: string[];
  /** Expiry, seconds since the epoch. */
  exp: number;
}

export interface Session {
  token: string;
  claims: Claims;
  hospital: string;
}

const TOKEN_KEY = 'vigil.token';
const HOSPITAL_KEY = 'vigil.hospital';

function base64UrlDecode(part: string): string {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const bin = atob(padded);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** Decodes a JWT's claims without verifying it; errors as values with a reason a person reads. */
export function decodeClaims(token: string): { ok: true; claims: Claims } | { ok: false; error: string } {
  const parts = token.trim().split('.');
  if (parts.length !== 3 || !parts[1]) return { ok: false, error: 'This is not a token (expected three parts separated by dots).' };
  let payload: unknown;
  try {
    payload = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    return { ok: false, error: 'The token cannot be read.' };
  }
  if (typeof payload !== 'object' || payload === null) return { ok: false, error: 'The token cannot be read.' };
  const p = payload as Record<string, unknown>;
  if (typeof p.sub !== 'string' || !p.sub) return { ok: false, error: 'The token names no user (sub).' };
  if (typeof p.role !== 'string' || !ROLES.includes(p.role as Role)) return { ok: false, error: 'The token has no known role.' };
  if (!Array.isArray(p.hospitals) || !p.hospitals.every((h) => typeof h === 'string')) {
    return { ok: false, error: 'The token lists no hospitals.' };
  }
  if (typeof p.exp !== 'number') return { ok: false, error: 'The token has no expiry (exp).' };
  if (p.exp * 1000 <= Date.now()) return { ok: false, error: 'The token has expired. Ask for a new one.' };
  return {
    ok: true,
    claims: {
      sub: p.sub,
      name: typeof p.name === 'string' ? p.name : null,
      role: p.role as Role,
      hospitals: p.hospitals as string[],
      exp: p.exp,
    },
  };
}

/**
 * Reads `#token=…&hospital=…` once, stores it in sessionStorage and removes the fragment from the
 * address bar (history.replaceState), so the token is neither bookmarked nor shown on screen.
 */
export function takeTokenFromFragment(): void {
  const hash = window.location.hash.replace(/^#/, '');
  if (!hash) return;
  const params = new URLSearchParams(hash);
  const token = params.get('token');
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  const hospital = params.get('hospital');
  if (hospital) sessionStorage.setItem(HOSPITAL_KEY, hospital);
  else sessionStorage.removeItem(HOSPITAL_KEY);
  window.history.replaceState(null, '', window.location.pathname + window.location.search);
}

export function storedToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function storedHospital(): string | null {
  return sessionStorage.getItem(HOSPITAL_KEY);
}

export function storeToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token.trim());
}

export function storeHospital(hospital: string): void {
  sessionStorage.setItem(HOSPITAL_KEY, hospital);
}

export function signOut(): void {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(HOSPITAL_KEY);
}

/** Permissions by role, as in docs/api.md "Authorization and tenancy". */
export function can(role: Role, permission: 'acknowledge' | 'resolve' | 'escalate' | 'create'): boolean {
  switch (permission) {
    case 'create':
      return role !== 'viewer';
    case 'acknowledge':
    case 'resolve':
      return role === 'doctor' || role === 'nurse' || role === 'head_doctor' || role === 'admin';
    case 'escalate':
      return role === 'head_doctor' || role === 'admin';
  }
}

export const ROLE_LABEL: Record<Role, string> = {
  admin: 'Admin',
  head_doctor: 'Head doctor',
  doctor: 'Doctor',
  nurse: 'Nurse',
  operator: 'Operator',
  viewer: 'Viewer',
};
