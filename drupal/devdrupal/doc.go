// Package devdrupal is a built-in stand-in for Drupal's side of the
// authentication callback (drupal-nodejs spec §3.4-3.5), so `make run` works
// without a Drupal site. It is for development only: it accepts every
// non-empty auth token, serves loopback callers only, and says so loudly in
// the log when it is built.
//
// Point socketd's backend at it (host 127.0.0.1, the port and path where it is
// mounted) and any page can authenticate: a token "user-5" is uid 5 with the
// channels nodejs_notify and nodejs_user_5, any other token is an anonymous
// uid 0 with nodejs_notify.
package devdrupal
