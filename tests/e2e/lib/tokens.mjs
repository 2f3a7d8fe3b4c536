// Mints JWTs for the tests with node:crypto (HS256), plus deliberately broken
// ones (expired, bad signature, alg none, missing claims).

import { createHmac, randomUUID } from 'node:crypto';

/** The HS256 secret every test server is started with. */
export const SECRET = 'e2e-secret-7d1f0b8c2a4e4f6b9c3d5e7f1a2b3c4d';

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const b64json = (obj) => b64url(JSON.stringify(obj));

const nowSec = () => Math.floor(Date.now() / 1000);

/**
 * Signs an arbitrary payload. HS384/HS512 are really signed with that hash; any other `alg` is
 * written into the header as given with an HS256 signature; with `alg: 'none'` the signature
 * part is empty.
 */
export function signJwt(payload, { secret = SECRET, alg = 'HS256', header = {} } = {}) {
  const head = b64json({ alg, typ: 'JWT', ...header });
  const body = b64json(payload);
  const input = `${head}.${body}`;
  if (alg === 'none') return `${input}.`;
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg] || 'sha256';
  const sig = createHmac(hash, secret).update(input).digest();
  return `${input}.${b64url(sig)}`;
}

/** Standard claims for a user; `extra` overrides or adds claims (undefined removes one). */
export function claims({
  sub = `u-${randomUUID().slice(0, 8)}`,
  name,
  role = 'head_doctor',
  hospitals = [],
  expIn = 3600,
  iat = nowSec(),
  ...extra
} = {}) {
  const c = { sub, role, hospitals, iat, exp: nowSec() + expIn };
  if (name !== undefined) c.name = name;
  Object.assign(c, extra);
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c;
}

/** A valid HS256 token; see claims() for the options. */
export function mintToken(opts = {}) {
  const { secret, ...rest } = opts;
  return signJwt(claims(rest), { secret });
}

/** A token whose `exp` lies in the past (by 60 s by default). */
export function expiredToken(opts = {}) {
  return mintToken({ ...opts, expIn: -(opts.agoSec ?? 60), iat: nowSec() - 3600 });
}

/** A well-formed token signed with the wrong secret. */
export function badSignatureToken(opts = {}) {
  return signJwt(claims(opts), { secret: 'not-the-server-secret' });
}

/** An unsigned token (`alg: none`) with otherwise valid claims. */
export function algNoneToken(opts = {}) {
  return signJwt(claims(opts), { alg: 'none' });
}

/** A token with valid signature and claims except the given overrides (e.g. {exp: undefined}). */
export function tokenWithClaims(overrides, opts = {}) {
  const c = { ...claims(opts), ...overrides };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return signJwt(c);
}

/** The decoded payload of a token (no verification). */
export function decode(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
}
