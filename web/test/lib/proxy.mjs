// A TCP-level forwarding proxy in front of vigild for the browser tests. The browser loads the
// dashboard through it, so the test can cut WebSockets alone (close the upgraded sockets and
// refuse new upgrades) while plain HTTP keeps working: the dashboard must then fall back to
// polling. It also outlives a vigild restart (the upstream port stays the same). While no vigild
// is there (a test replaced stack.server and its start has not announced the port yet) requests
// get 502 and upgrades are refused at once, as a stopped server's closed port would.

import http from 'node:http';
import net from 'node:net';

export class Proxy {
  /** @param {() => number} upstreamPort the current vigild port */
  constructor(upstreamPort) {
    this.upstreamPort = upstreamPort;
    this.blockWs = false;
    this.upgraded = new Set();
    this.upgradesRefused = 0;
    /** Upgrades refused because no vigild port was known (between a server and its successor). */
    this.upgradesWithoutUpstream = 0;
    this.server = http.createServer((req, res) => this.forward(req, res));
    this.server.keepAliveTimeout = 1000;
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  async listen() {
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = this.server.address().port;
    return this;
  }

  get url() { return `http://127.0.0.1:${this.port}`; }

  forward(req, res) {
    const port = this.upstreamPort();
    if (!port) {
      res.writeHead(502, { 'content-type': 'application/json' });
      res.end('{"error":"upstream unavailable"}');
      return;
    }
    const up = http.request({
      host: '127.0.0.1',
      port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    }, (upRes) => {
      res.writeHead(upRes.statusCode, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end('{"error":"upstream unavailable"}');
    });
    req.pipe(up);
  }

  upgrade(req, socket, head) {
    socket.on('error', () => socket.destroy());
    if (this.blockWs) {
      this.upgradesRefused += 1;
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    // No port while a replacement vigild starts (VigilServer.port is set once start() resolves).
    // net.connect(undefined) throws: the exception escaped this handler, the browser's socket was
    // never answered nor closed, and its WebSocket stayed CONNECTING (Chromium waits minutes), so
    // the client neither reconnected nor left polling.
    const port = this.upstreamPort();
    if (!port) {
      this.upgradesWithoutUpstream += 1;
      socket.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const up = net.connect(port, '127.0.0.1', () => {
      let head1 = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) head1 += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      up.write(`${head1}\r\n`);
      if (head?.length) up.write(head);
      socket.pipe(up);
      up.pipe(socket);
    });
    const pair = { socket, up };
    this.upgraded.add(pair);
    const done = () => { this.upgraded.delete(pair); socket.destroy(); up.destroy(); };
    socket.on('error', done);
    up.on('error', done);
    socket.on('close', done);
    up.on('close', done);
  }

  /** Cuts every WebSocket and refuses new ones until unblockWebSockets(). */
  blockWebSockets() {
    this.blockWs = true;
    for (const { socket, up } of this.upgraded) { socket.destroy(); up.destroy(); }
    this.upgraded.clear();
  }

  unblockWebSockets() { this.blockWs = false; }

  get openWebSockets() { return this.upgraded.size; }

  async close() {
    this.blockWebSockets();
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(resolve));
  }
}
