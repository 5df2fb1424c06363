// Package drupal makes socketd a drop-in replacement for drupal-node.js, the
// Node.js app of Drupal's "Node.js integration" module: the same HTTP API under
// baseAuthPath (publish, kick, channels, content tokens, health check), the
// same authentication callback to Drupal, and the same messages to the
// unchanged nodejs.js in every page. Drupal channels are Socket.IO rooms.
// Its configuration is drupal-node.js's own file, read by package nodejsconfig.
//
// It imports server/socketio, drupal/nodejsconfig and chi, never the other way
// round.
package drupal
