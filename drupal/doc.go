// Package drupal makes socketd a drop-in replacement for drupal-node.js, the
// Node.js app of Drupal's "Node.js integration" module: the same configuration
// file, the same HTTP API under baseAuthPath (publish, kick, channels, content
// tokens, health check), the same authentication callback to Drupal, and the
// same messages to the unchanged nodejs.js in every page. Drupal channels are
// Socket.IO rooms.
//
// It imports server/socketio and chi, never the other way round.
package drupal
