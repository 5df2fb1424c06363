package adminui

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/socketd/socketd/server/engine"
	"github.com/socketd/socketd/server/socketio"
)

// maxAllSocketsBytes bounds the all_sockets message: a session's outbound
// queue holds 4 MiB by default (engine.Config.MaxQueueBytes), and one message
// bigger than what is left of it would close the admin's connection. The
// sockets past it are left out, logged.
const maxAllSocketsBytes = 2 << 20

// serializedSocket is a socket as the UI shows it (typed-events.ts,
// SerializedSocket).
type serializedSocket struct {
	ID        string          `json:"id"`
	ClientID  string          `json:"clientId"`
	Transport string          `json:"transport"`
	Nsp       string          `json:"nsp"`
	Data      json.RawMessage `json:"data"`
	Handshake handshakeView   `json:"handshake"`
	Rooms     []string        `json:"rooms"`
}

// handshakeView is socket.handshake as instrument() serializes it: without
// auth (a Drupal page's token is there).
type handshakeView struct {
	Address string            `json:"address"`
	Headers map[string]string `json:"headers"`
	Query   map[string]any    `json:"query"`
	Issued  int64             `json:"issued"`
	Secure  bool              `json:"secure"`
	Time    string            `json:"time"`
	URL     string            `json:"url"`
	XDomain bool              `json:"xdomain"`
}

// redactedHeaders are not shown: a Drupal site's session cookie or a proxy's
// credentials would let whoever reads the admin UI act as that user.
// instrument() shows them; an admin who needs them has the server's logs.
var redactedHeaders = []string{"cookie", "authorization", "proxy-authorization"}

// jsDate is the layout of JavaScript's Date.prototype.toString, which
// socket.io uses for handshake.time.
const jsDate = "Mon Jan 02 2006 15:04:05 GMT-0700 (MST)"

func (ad *Admin) handshakeView(h *socketio.Handshake) handshakeView {
	headers := make(map[string]string, len(h.Headers)+1)
	for k, vs := range h.Headers {
		k = strings.ToLower(k)
		if slices.Contains(redactedHeaders, k) {
			headers[k] = "[hidden by socketd]"
			continue
		}
		headers[k] = strings.Join(vs, ", ")
	}
	if _, ok := headers["host"]; !ok && h.Host != "" {
		headers["host"] = h.Host
	}
	query := make(map[string]any, len(h.Query))
	for k, vs := range h.Query {
		if len(vs) == 1 {
			query[k] = vs[0]
		} else {
			query[k] = vs
		}
	}
	// instrument() shows Cf-Connecting-Ip or X-Forwarded-For when a client
	// sends one; any client can, so the UI shows the address the server
	// worked out instead: the peer's, or behind the configured trusted
	// proxies the one they forwarded for (the headers stay in the list).
	address := h.Address
	if host, _, err := net.SplitHostPort(address); err == nil {
		address = host
	}
	v := handshakeView{
		Address: address,
		Headers: headers,
		Query:   query,
		Secure:  h.Secure,
		XDomain: h.Headers.Get("Origin") != "",
	}
	if !h.Time.IsZero() {
		v.Issued = h.Time.UnixMilli()
		v.Time = h.Time.Format(jsDate)
	}
	if len(h.Query) > 0 {
		v.URL = ad.opts.SocketPath + "/?" + h.Query.Encode()
	}
	return v
}

// socketData is the socket's data as the UI shows it: {} when none, and
// without the "_admin" key a Node node's instrument() keeps there.
func socketData(raw json.RawMessage) (data json.RawMessage, clientID, transport string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}"), "", ""
	}
	if raw[0] != '{' {
		return raw, "", ""
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return raw, "", ""
	}
	adm, ok := obj["_admin"]
	if !ok {
		return raw, "", ""
	}
	var a struct {
		ClientID  string `json:"clientId"`
		Transport string `json:"transport"`
	}
	_ = json.Unmarshal(adm, &a)
	delete(obj, "_admin")
	out, err := json.Marshal(obj)
	if err != nil {
		return json.RawMessage("{}"), a.ClientID, a.Transport
	}
	return out, a.ClientID, a.Transport
}

// clientID is the id the UI groups a connection's sockets by: the start of
// the Engine.IO session id, as instrument() shows it (the whole of it would
// let a reader of the UI post on the client's polling session).
func clientID(sess *engine.Session) string {
	id := sess.ID()
	return id[:min(12, len(id))]
}

// serializeLocal describes a socket of this node.
func (ad *Admin) serializeLocal(s *socketio.Socket) serializedSocket {
	data, _, _ := socketData(s.Data())
	return serializedSocket{
		ID:        s.ID(),
		ClientID:  clientID(s.Session()),
		Transport: s.Session().Transport().String(),
		Nsp:       s.Namespace().Name(),
		Data:      data,
		Handshake: ad.handshakeView(s.Handshake()),
		Rooms:     s.Rooms(),
	}
}

// serializeRemote describes a socket FetchSockets found. A socket of this
// node gets its connection's details; one of another socketd node has none
// to give (its socket id stands for the client), one of a Node node has them
// in its data.
func (ad *Admin) serializeRemote(n *socketio.Namespace, r *socketio.RemoteSocket) serializedSocket {
	data, cid, transport := socketData(r.Data)
	if s, ok := n.Socket(r.ID); ok {
		cid, transport = clientID(s.Session()), s.Session().Transport().String()
	}
	if cid == "" {
		cid = r.ID
	}
	return serializedSocket{
		ID:        r.ID,
		ClientID:  cid,
		Transport: transport,
		Nsp:       n.Name(),
		Data:      data,
		Handshake: ad.handshakeView(r.Handshake),
		Rooms:     r.Rooms,
	}
}

// allSockets describes every socket of every namespace, on every node, up to
// maxAllSocketsBytes of them.
func (ad *Admin) allSockets(ctx context.Context) ([]json.RawMessage, error) {
	out := []json.RawMessage{}
	var firstErr error
	size, total := 0, 0
	for _, n := range ad.namespaceList() {
		remote, err := n.FetchSockets(ctx)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		total += len(remote)
		for _, r := range remote {
			if size > maxAllSocketsBytes {
				break
			}
			b, err := json.Marshal(ad.serializeRemote(n, r))
			if err != nil {
				continue
			}
			size += len(b)
			out = append(out, b)
		}
	}
	if len(out) < total {
		ad.log.Warn("admin UI: too many sockets to list; the UI shows some of them", slog.Int("shown", len(out)), slog.Int("sockets", total))
	}
	return out, firstErr
}

// pendingUpgrade is a socket reported on polling, whose upgrade to WebSocket
// the UI is to hear of (socket_updated).
type pendingUpgrade struct {
	s *socketio.Socket
}

// onConnection reports a new socket of any namespace.
func (ad *Admin) onConnection(s *socketio.Socket) {
	if !ad.reporting() {
		return
	}
	v := ad.serializeLocal(s)
	ad.queue("socket_connected", v, timestamp(time.Now()))
	if v.Transport == engine.Polling.String() {
		ad.mu.Lock()
		ad.upgrading = append(ad.upgrading, pendingUpgrade{s: s})
		ad.mu.Unlock()
	}
}

// onDisconnect reports a socket that left its namespace.
func (ad *Admin) onDisconnect(s *socketio.Socket, reason socketio.DisconnectReason) {
	if !ad.reporting() {
		return
	}
	ad.queue("socket_disconnected", s.Namespace().Name(), s.ID(), string(reason), timestamp(time.Now()))
}

// checkUpgrades reports the sockets reported on polling that are on
// WebSocket now, and forgets those and the ones that left.
func (ad *Admin) checkUpgrades() {
	ad.mu.Lock()
	pending := ad.upgrading
	ad.upgrading = nil
	ad.mu.Unlock()
	var keep []pendingUpgrade
	for _, p := range pending {
		if !p.s.Connected() {
			continue
		}
		if t := p.s.Session().Transport(); t != engine.Polling {
			if ad.reporting() {
				ad.queue("socket_updated", map[string]string{"id": p.s.ID(), "nsp": p.s.Namespace().Name(), "transport": t.String()})
			}
			continue
		}
		keep = append(keep, p)
	}
	if !ad.reporting() {
		// Nobody watches: the next admin gets all_sockets, with transports
		// as they are then.
		keep = nil
	}
	ad.mu.Lock()
	ad.upgrading = append(ad.upgrading, keep...)
	ad.mu.Unlock()
}
