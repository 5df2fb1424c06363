// drupal-node.js configuration for the benchmark (bench/run.sh -servers
// ...,drupal-node with -drupal-node DIR runs `node DIR/app.js
// bench/drupal-node.config.js`). The same settings as bench/nodejs.config.js,
// socketd's, but on its own port, 8094, where the runner looks for it.
settings = {
  scheme: 'http',
  host: '127.0.0.1',
  port: 8094,
  serviceKey: 'bench-service-key',
  baseAuthPath: '/nodejs/',
  debug: false,
  backend: {
    host: '127.0.0.1',
    port: 8099,
    scheme: 'http',
    basePath: '/',
    messagePath: 'nodejs/message',
    strictSSL: false,
    httpAuth: ''
  },
  socketOptions: {}
};
