// socketd test fixture: a Drupal 7 era file for the server.js bundled with
// the module (socket.io 0.9 transports, route-path keys, mixed quoting).
settings = {
  "scheme": "http",
  "host": "chat.example.org",
  "port": 49165, // the port the chat page connects to
  'sslKeyPath': '',
  'sslCertPath': '',
  'sslCAPath': '',
  "resource": "/socket.io",
  "baseAuthPath": '/nodejs/',
  "publishUrl": "publish",
  "serviceKey": "d7-key",
  "backend": {
    "port": 443,
    "scheme": 'https',
    "host": "www.example.org",
    "messagePath": "/nodejs/message/"
  },
  "clientsCanWriteToChannels": false,
  "clientsCanWriteToClients": true,
  "extensions": "",
  "debug": false,
  "addUserToChannelUrl": 'user/channel/add/:channel/:uid',
  "publishMessageToContentChannelUrl": 'content/token/message',
  "transports": ["websocket",
  "flashsocket",
  "htmlfile",
  "xhr-polling",
  "jsonp-polling"],
  "jsMinification": true,
  "jsEtag": true,
  flashPolicy: {
    port: 10843
  },
  "logLevel": 1
};
