// Package clientjs is the browser side socketd hands out: the socket.io-client
// bundles served at <socketPath>/socket.io.js, and a small demo page.
//
// Drupal pages load the Socket.IO client from the Node server itself
// (drupal-nodejs spec §0 and §5: <resource>/socket.io.js, socket.io-client
// 2.3.0 under drupal-node.js 1.0.13), so a drop-in replacement must serve one.
// Handler serves socket.io-client 2.x ("2": Engine.IO v3, what unchanged
// Drupal pages speak) or 4.x ("4"), with the caching rules of the socket.io
// server (spec §2): ETag is the client's npm version, If-None-Match gives 304,
// Cache-Control is "public, max-age=0".
//
// The bundles come from the npm registry at build time (`make client-js`,
// client_js/client_js.mk, pinned by client_js/package-lock.json) and are
// embedded with //go:embed; they are never committed. On a fresh clone the
// package still compiles: Available reports false and Handler answers 503
// telling the developer to run `make client-js`.
//
// DemoHandler serves a page that connects the way Drupal's nodejs.js does and
// lists every message it receives, for trying socketd without a Drupal site.
package clientjs
