// drupal-node.js style configuration for socketd under the benchmark
// (bench/run.sh -servers floor,node,socketd runs `bin/socketd bench/nodejs.config.js`
// unless -socketd-cmd says otherwise). socketd listens where the runner looks
// for it (-socketd-url, default http://127.0.0.1:8093) and calls socketbench's
// stand-in Drupal backend (-backend-addr, default 127.0.0.1:8099) with the
// runner's default service key. drupal-node.js itself, when measured
// (-drupal-node DIR), is started on this same file: `node DIR/app.js
// bench/nodejs.config.js`.
settings = {
  scheme: 'http',
  host: '127.0.0.1',
  port: 8093,
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
