/**
 * socketd test fixture: a container-style configuration that takes its
 * values from the environment through process.env, falling back to the
 * image's defaults.
 */
var env = process.env;

function flag(value, fallback) {
  if (value === undefined || value === '') {
    return fallback;
  }
  return value === 'true' || value === '1';
}

var settings = {
  scheme: env.NODE_SCHEME || 'http',
  port: 8080,
  host: '0.0.0.0',
  resource: env.NODE_RESOURCE || '/socket.io',
  serviceKey: env.NODE_SERVICE_KEY || '',
  backend: {
    port: parseInt(env.NODE_BACKEND_PORT || '8080', 10),
    host: env.NODE_BACKEND_HOST || 'nginx',
    scheme: env.NODE_BACKEND_SCHEME || 'http',
    basePath: env.NODE_BACKEND_BASE_PATH || '',
    messagePath: env.NODE_MESSAGE_PATH || '/nodejs/message'
  },
  debug: flag(env.NODE_DEBUG, false),
  sslKeyPath: env.NODE_SSL_KEY_PATH || '',
  sslCertPath: env.NODE_SSL_CERT_PATH || '',
  sslCAPath: env.NODE_SSL_CA_PATH || '',
  baseAuthPath: env.NODE_BASE_AUTH_PATH || '/nodejs/',
  extensions: [],
  clientsCanWriteToChannels: flag(env.NODE_CLIENTS_CAN_WRITE_TO_CHANNELS, false),
  clientsCanWriteToClients: flag(env.NODE_CLIENTS_CAN_WRITE_TO_CLIENTS, false),
  transports: ['websocket', 'polling'],
  jsMinification: flag(env.NODE_JS_MINIFICATION, true),
  jsEtag: flag(env.NODE_JS_ETAG, true),
  logLevel: parseInt(env.NODE_LOG_LEVEL || '1', 10)
};
