// TLS for the e2e suite.
//
// `VIGIL_E2E_TLS=1 npm test` runs the whole suite over TLS: every server the harness starts gets
// tls.cert-file/tls.key-file, and every client URL is wss:// and https:// (wsBase, httpBase),
// every raw socket a TLS socket (connectRaw).
//
// The certificates come from lib/run.mjs (`npm test`), which makes a CA and a server certificate
// for 127.0.0.1/localhost in a temporary directory before it starts the test runner, and points
// NODE_EXTRA_CA_CERTS (read by Node only at start-up: fetch, ws and tls trust it) and
// VIGIL_CA_FILE (vigilctl) at the CA. A single file runs the same way:
// `node lib/run.mjs tls.test.mjs`.

import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

/** True when the suite runs over TLS (VIGIL_E2E_TLS=1). */
export const TLS = process.env.VIGIL_E2E_TLS === '1';

/** The directory of the run's CA and server certificate (lib/run.mjs). */
export function tlsDir() {
  const dir = process.env.VIGIL_E2E_TLS_DIR;
  if (!dir) {
    throw new Error('no test certificates: run the suite with `npm test`, or a single file with '
      + '`node lib/run.mjs FILE`');
  }
  return dir;
}

/** Paths of the run's CA certificate, server certificate and key. */
export function tlsFiles() {
  const dir = tlsDir();
  return {
    ca: path.join(dir, 'ca.pem'),
    cert: path.join(dir, 'server.pem'),
    key: path.join(dir, 'server.key'),
  };
}

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes a CA (ca.pem, ca.key) in `dir`. */
export function makeCa(dir) {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=vigil e2e test CA',
    '-keyout', 'ca.key', '-out', 'ca.pem'], dir);
}

/**
 * Issues a server certificate for 127.0.0.1 and localhost, signed by the CA in `caDir`, as
 * `<name>.pem` and `<name>.key` in `dir`; `cn` tells certificates apart. Returns their paths.
 */
export function issueCert(dir, name, { caDir = dir, cn = 'localhost' } = {}) {
  const ext = path.join(dir, `${name}.ext`);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  // ECDSA P-256: a handshake costs the server a tenth of an RSA-2048 one, which matters when
  // hundreds of clients reconnect at once on the test machine (replay-load.test.mjs).
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${cn}`,
    '-keyout', `${name}.key`, '-out', `${name}.csr`], dir);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', path.join(caDir, 'ca.pem'),
    '-CAkey', path.join(caDir, 'ca.key'), '-CAcreateserial', '-days', '1', '-extfile', ext,
    '-out', `${name}.pem`], dir);
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`) };
}

/** vigild flags that turn TLS on with the run's certificate (none in plain mode). */
export function tlsArgs(on = TLS) {
  if (!on) return [];
  const f = tlsFiles();
  return [`--tls.cert-file=${f.cert}`, `--tls.key-file=${f.key}`];
}

/** `ws://127.0.0.1:<port>` or, over TLS, `wss://…`. */
export function wsBase(port, on = TLS) {
  return `${on ? 'wss' : 'ws'}://127.0.0.1:${port}`;
}

/** `http://127.0.0.1:<port>` or, over TLS, `https://…`. */
export function httpBase(port, on = TLS) {
  return `${on ? 'https' : 'http'}://127.0.0.1:${port}`;
}

/**
 * A raw byte stream to the server, as `net.connect(port, host, onConnect)`: a TLS socket (HTTP/1.1,
 * trusting the run's CA) in TLS mode. `onConnect` runs once bytes can be written (after the
 * handshake).
 */
export function connectRaw(port, host = '127.0.0.1', onConnect, on = TLS) {
  if (!on) return net.connect(port, host, onConnect);
  return tls.connect({ port, host, servername: host === '127.0.0.1' ? undefined : host, ALPNProtocols: ['http/1.1'] },
    onConnect);
}
