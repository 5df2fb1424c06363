package drupal

import (
	"encoding/json"
	"net/http"

	"github.com/socketd/socketd/server/socketio"
)

// Extension is the Go replacement of a drupal-node.js extension (spec §6): a
// JavaScript module in extensions/ that added routes, received the client
// manager in setup() and listened to the process events client-connection,
// client-authenticated, client-disconnect, message-published and the
// client-to-channel/client-to-client messages. Embed NopExtension and override
// what you need; pass extensions in Options.Extensions.
//
// Hooks run synchronously on the goroutine of the event (a socket's reading
// side, an HTTP request, a timer) with no bridge lock held; they must not block.
// They may call the Bridge's methods.
type Extension interface {
	// Setup is called once by New, after the bridge is ready and before any
	// socket is handled; it replaces setup(clientManager). An error fails New.
	Setup(b *Bridge) error
	// Routes are extra HTTP routes. Auth routes are served by Bridge.Routes
	// under baseAuthPath, behind the service-key check, body limit and JSON
	// check; the others by Bridge.PublicRoutes at their own path.
	Routes() []Route
	// OnConnect: a socket connected to "/" (client-connection); it is not
	// authenticated yet.
	OnConnect(s *socketio.Socket)
	// OnAuthenticate: a socket was authenticated and joined its channels
	// (client-authenticated). auth must not be modified.
	OnAuthenticate(s *socketio.Socket, auth *AuthReply)
	// OnDisconnect: a socket left (client-disconnect); it is still in its rooms.
	OnDisconnect(s *socketio.Socket)
	// OnPublish: Drupal published msg through the publish route and sent
	// sockets were targeted (message-published).
	OnPublish(msg json.RawMessage, sent int)
	// OnClientMessage: an authenticated socket sent a message event the
	// configuration allows (client-to-channel-message, client-to-client-message),
	// before it is relayed and forwarded to Drupal. Returning false stops the
	// relay and the forward.
	OnClientMessage(s *socketio.Socket, m *ClientMessage) bool
}

// Route is an extension's HTTP route.
type Route struct {
	// Method is an HTTP method, "GET" or "POST" in drupal-node.js.
	Method string
	// Path starts with "/"; for an Auth route it is relative to baseAuthPath
	// ("/chat/history" is served at /nodejs/chat/history).
	Path string
	// Auth puts the route under baseAuthPath, behind the service-key check.
	Auth    bool
	Handler http.Handler
}

// NopExtension implements every Extension method as a no-op; embed it.
type NopExtension struct{}

// Setup implements Extension.
func (NopExtension) Setup(*Bridge) error { return nil }

// Routes implements Extension.
func (NopExtension) Routes() []Route { return nil }

// OnConnect implements Extension.
func (NopExtension) OnConnect(*socketio.Socket) {}

// OnAuthenticate implements Extension.
func (NopExtension) OnAuthenticate(*socketio.Socket, *AuthReply) {}

// OnDisconnect implements Extension.
func (NopExtension) OnDisconnect(*socketio.Socket) {}

// OnPublish implements Extension.
func (NopExtension) OnPublish(json.RawMessage, int) {}

// OnClientMessage implements Extension.
func (NopExtension) OnClientMessage(*socketio.Socket, *ClientMessage) bool { return true }

var _ Extension = NopExtension{}
