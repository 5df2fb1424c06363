settings = {
  port: 8080,
  host: 'localhost'
  serviceKey: 'missing comma above'
};
