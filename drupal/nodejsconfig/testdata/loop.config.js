settings = { port: 8080 };
while (true) {
  settings.port++;
}
