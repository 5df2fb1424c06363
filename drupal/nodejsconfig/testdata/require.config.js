var fs = require('fs');
settings = { serviceKey: fs.readFileSync('/run/secrets/key', 'utf8') };
