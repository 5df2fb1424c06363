/*
 * socketd test fixture: the container image's shell-style template after its
 * entrypoint substituted the NODE_* variables (debug and the clients* flags
 * are written unquoted, so NODE_DEBUG=1 becomes the number 1; the backend
 * port stays a quoted string).
 */
settings = {
    scheme: 'http',
    port: 8080,
    host: '0.0.0.0',
    resource: '/socket.io',
    serviceKey: '',
    backend: {
        port: '8080',
        host: 'node',
        scheme: 'http',
        basePath: '',
        messagePath: '/nodejs/message'
    },
    debug: 1,
    sslKeyPath: '',
    sslCertPath: '',
    sslCAPath: '',
    baseAuthPath: '/nodejs/',
    extensions: [],
    clientsCanWriteToChannels: false,
    clientsCanWriteToClients: false,
    transports: ['websocket', 'polling'],
    jsMinification: true,
    jsEtag: true,
    logLevel: 1
};
