settings = {
  port: 'abc',
  debug: 'maybe',
  backend: { port: true },
  socketOptions: { pingInterval: 'soon' }
};
