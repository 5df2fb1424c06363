// Package adminui is the server side of the socket.io admin UI
// (@socket.io/admin-ui 0.5, its instrument() function): the admin namespace
// ("/admin") that the UI connects to, with basic authentication against a
// bcrypt hash, a read-only mode, the events the UI shows (server stats,
// sockets, rooms, connections and disconnections) and its commands
// (disconnect, join, leave, emit), which act on every namespace of the server.
//
// It uses server/socketio's public API plus three seams that cost nothing, or
// one atomic load per event, when no admin UI is attached:
// Server.OnNewNamespace (hooks on namespaces made later), the adapter factory,
// which Admin.Adapter wraps to see room membership change (room_joined,
// room_left), and Server.SetEventObserver (event_received, event_sent). Nothing is kept per socket: the admin side
// works from what the namespaces and adapters already hold, and while no admin
// is connected (on this node, or on another node of a cluster) the hooks only
// check an atomic counter.
//
// Set-up order: New, then socketio.New with Config.Adapter = a.Adapter(factory),
// then a.Attach(server); Close stops its goroutines.
//
// On a cluster adapter the events and the stats go through the adapter, as
// socket.io's do: an admin connected to any node sees every node (one
// server_stats line each) and the sockets FetchSockets finds on every node.
// Login sessions are kept per node (see Options.SessionTTL).
package adminui
