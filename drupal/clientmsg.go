package drupal

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"

	"github.com/socketd/socketd/server/socketio"
)

// Message types of the client messages forwarded to Drupal's message endpoint,
// where hook_nodejs_message_callback implementations dispatch on them.
const (
	MessageTypeClientToChannel = "clientToChannelMessage"
	MessageTypeClientToClient  = "clientToClientMessage"
)

// ClientMessage is a message event an authenticated socket sent, brought back
// from drupal-node.js 1.0.10 (removed in 1.0.12) and off by default (spec §4.1,
// the message row):
//
//   - with a channel field, it is for a channel: allowed when
//     clientsCanWriteToChannels is set or the channel was added as client
//     writable (channel/add with {"isClientWritable":true}), and only to a
//     channel the socket is in. It is relayed to the channel's other sockets.
//   - without, it is for one socket: allowed when clientsCanWriteToClients is
//     set; it is relayed to the authenticated socket named by toClientId.
//
// Either way it is then posted to Drupal with messageType set to
// clientToChannelMessage or clientToClientMessage, clientId to the sender's
// socket id and uid to the sender's uid (the client cannot choose these). The
// relayed message is the client's object untouched; receivers should not trust
// it more than they trust the sender.
type ClientMessage struct {
	// Raw is the message object as the client sent it.
	Raw json.RawMessage
	// Channel is the target channel, "" for a client-to-client message.
	Channel string
	// ToClientID is the target socket of a client-to-client message.
	ToClientID string
	// UID is the sender's Drupal uid.
	UID int64
}

func (b *Bridge) onClientMessage(s *socketio.Socket, e *socketio.Event) {
	if e.Args.Len() == 0 {
		return
	}
	raw := trimJSON(e.Args.Values[0])
	fs, err := objectFields(raw)
	if err != nil {
		return
	}
	m := fieldMap(fs)
	b.mu.Lock()
	c := b.sockets[s.ID()]
	authed := c != nil && c.s == s && c.state == stateAuthenticated
	b.mu.Unlock()
	if !authed {
		b.logDebug("drupal: message from an unauthenticated client dropped", slog.String("sid", s.ID()))
		return
	}
	cm := &ClientMessage{Raw: raw, UID: c.auth.UID}
	chRaw, toChannel := m["channel"]
	if toChannel {
		cm.Channel, _ = jsonString(chRaw)
		// The socket must be in the channel: its rooms say so.
		if cm.Channel == "" || !slices.Contains(s.Rooms(), ChannelRoom(cm.Channel)) {
			b.logDebug("drupal: client may not write to channel", slog.String("sid", s.ID()), slog.String("channel", cm.Channel))
			return
		}
	} else {
		if !b.cfg.ClientsCanWriteToClients {
			b.logDebug("drupal: client may not write to clients", slog.String("sid", s.ID()))
			return
		}
		cm.ToClientID, _ = jsonString(m["toClientId"])
	}
	b.storeCall(func(ctx context.Context) { b.relayClientMessage(ctx, s, cm) })
}

// relayClientMessage checks a channel message against the channel registry,
// then lets the extensions see the message, relays it and forwards it to
// Drupal.
func (b *Bridge) relayClientMessage(ctx context.Context, s *socketio.Socket, cm *ClientMessage) {
	msgType := MessageTypeClientToClient
	if cm.Channel != "" {
		exists, writable, err := b.store.Channel(ctx, cm.Channel)
		if err != nil {
			b.storeFailed("channel", err)
		}
		if !exists || !(b.cfg.ClientsCanWriteToChannels || writable) {
			b.logDebug("drupal: client may not write to channel", slog.String("sid", s.ID()), slog.String("channel", cm.Channel))
			return
		}
		msgType = MessageTypeClientToChannel
	}
	for _, ext := range b.exts {
		if !ext.OnClientMessage(s, cm) {
			return
		}
	}
	if cm.Channel != "" {
		b.emit(ctx, b.nsp.To(ChannelRoom(cm.Channel)).Except(s.ID()), cm.Raw)
	} else if cm.ToClientID != "" && cm.ToClientID != s.ID() {
		b.SendToSocket(ctx, cm.ToClientID, cm.Raw)
	}
	fwd, err := setField(cm.Raw, "messageType", json.RawMessage(jsonQuote(msgType)))
	if err == nil {
		fwd, err = setField(fwd, "clientId", json.RawMessage(jsonQuote(s.ID())))
	}
	if err == nil {
		fwd, err = setField(fwd, "uid", json.RawMessage(formatUID(cm.UID)))
	}
	if err == nil {
		b.notifyBackend(fwd)
	}
}

func formatUID(uid int64) string { return strconv.FormatInt(uid, 10) }
