// Only a comment and a variable with another name.
var config = { port: 8080 };
