/*
 * socketd test fixture: a drupal-node.js 1.0.13 style configuration, written
 * the way an operator fills in the example file shipped with the app.
 * nodejs.config.json and nodejs.config.yaml hold the same values.
 */

// The global `settings` object is what the server reads.
settings = {
  scheme: 'http',
  port: 8081,
  host: '127.0.0.1',
  serviceKey: 'shared-secret-123',
  backend: {
    port: 8088,
    host: 'drupal.internal',
    scheme: 'https',
    basePath: '',                 // joined to messagePath as is
    messagePath: '/nodejs/message',
    strictSSL: true,
    httpAuth: 'editor:s3cret',
  },
  debug: true,
  bodyParserJsonLimit: '512kb',
  sslKeyPath: '',
  sslCertPath: '',
  sslCAPath: '',
  baseAuthPath: '/nodejs/',
  extensions: [],
  socketOptions: {
    path: '/realtime',
    pingInterval: 10000,
    pingTimeout: 5000,
    transports: ['websocket', 'polling'],
    wsEngine: 'ws',               // a socket.io option socketd has no use for
  },
  // socketd additions
  authTimeout: 3000,
  authCacheTTL: '10m',
};
