package adapter

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/socketd/socketd/protocol/socketio"
)

// Connection-state recovery (socket.io 4.6+, connectionStateRecovery): a
// client that lost its connection for a moment comes back with its socket id,
// rooms and data, and is sent the packets it missed. An adapter that supports
// it stores every broadcast a client could miss (an EVENT without ack id, not
// volatile) under an offset, hands that offset to Local.Deliver (which appends
// it to the packet for clients that can recover), and keeps the sessions of
// the sockets that left (SessionStore). The namespace does the rest.
//
// Memory keeps them in this process (bounded by count, bytes and age); the
// Redis adapter keeps them in Redis, so that a client recovers on any node.

// Offset names a stored packet: two numbers, ordered by the first, then the
// second. It is written "<hi>-<lo>", the form of a Redis stream entry id,
// which is what the Redis store uses; the in-memory store uses its start time
// and a sequence number. The zero Offset is no offset.
type Offset struct {
	Hi, Lo uint64
}

// IsZero reports whether o is no offset.
func (o Offset) IsZero() bool { return o == Offset{} }

// Compare returns -1, 0 or 1 as o is before, equal to or after p.
func (o Offset) Compare(p Offset) int {
	switch {
	case o.Hi != p.Hi:
		if o.Hi < p.Hi {
			return -1
		}
		return 1
	case o.Lo < p.Lo:
		return -1
	case o.Lo > p.Lo:
		return 1
	}
	return 0
}

// String is the offset as clients see it: "<hi>-<lo>".
func (o Offset) String() string { return string(o.Append(nil)) }

// Append appends the offset's text form.
func (o Offset) Append(dst []byte) []byte {
	dst = strconv.AppendUint(dst, o.Hi, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, o.Lo, 10)
}

// ParseOffset reads an offset a client sent. Anything but two decimal
// numbers joined by '-' (a client's last string argument can be anything) is
// refused.
func ParseOffset(s string) (Offset, bool) {
	hi, lo, ok := strings.Cut(s, "-")
	if !ok || !decimal(hi) || !decimal(lo) {
		return Offset{}, false
	}
	h, err1 := strconv.ParseUint(hi, 10, 64)
	l, err2 := strconv.ParseUint(lo, 10, 64)
	if err1 != nil || err2 != nil {
		return Offset{}, false
	}
	o := Offset{h, l}
	return o, !o.IsZero()
}

func decimal(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Session is what recovery keeps of a socket that went away (socket.io's
// SessionToPersist).
type Session struct {
	// SID is the socket id the client gets back.
	SID SocketID
	// PID is the private id the client proves the session is its own with.
	PID string
	// Rooms are the socket's rooms, its own id room included.
	Rooms []Room
	// Data is the socket's data as JSON, nil when it had none.
	Data []byte
}

// StoredPacket is a packet a store kept, with its offset.
type StoredPacket struct {
	Offset Offset
	// Packet is the EVENT as broadcast, without the offset argument. It is
	// shared: do not modify it.
	Packet *socketio.Packet
}

// Stored reports whether a broadcast of pkt with opts is one recovery stores:
// an event without ack id, not volatile (socket.io's in-memory-adapter
// SessionAwareAdapter.broadcast: an ack cannot be answered after a
// reconnection, and a volatile packet may be dropped anyway). A broadcast
// that carries an offset already was stored by whoever set it.
func Stored(pkt *socketio.Packet, opts BroadcastOptions) bool {
	return (pkt.Type == socketio.Event || pkt.Type == socketio.BinaryEvent) &&
		!pkt.HasID && !opts.Flags.Volatile && opts.Flags.Offset.IsZero()
}

// Selects reports whether a socket in rooms is a target of a broadcast to
// opts' rooms minus its except (socket.io's shouldIncludePacket): the same
// rule as a live broadcast, applied to the rooms the socket had.
func Selects(rooms []Room, opts BroadcastOptions) bool {
	included := len(opts.Rooms) == 0
	for _, r := range rooms {
		if slices.Contains(opts.Except, r) {
			return false
		}
		if !included && slices.Contains(opts.Rooms, r) {
			included = true
		}
	}
	return included
}

// SessionStore keeps what connection-state recovery needs: the sessions of
// sockets that went away, and the packets broadcast since (socket.io's
// persistSession and restoreSession). Methods may cross the network.
type SessionStore interface {
	// SaveSession keeps s for ttl.
	SaveSession(ctx context.Context, s Session, ttl time.Duration) error
	// TakeSession removes the session of pid and returns it if it was
	// still kept and the store still has the packet at offset (so what
	// followed it can be told). It returns nil, nil otherwise.
	TakeSession(ctx context.Context, pid string, offset Offset) (*Session, error)
	// MissedPackets returns, in order, the packets of the namespace stored
	// after offset whose targets included a socket in rooms (Selects), and
	// the offset of the last packet stored when it looked: every packet
	// stored later has a greater offset. ErrOffsetGone: packets after offset
	// were dropped (the store's bounds), so what was missed cannot be told.
	MissedPackets(ctx context.Context, offset Offset, rooms []Room) ([]StoredPacket, Offset, error)
}

// Recoverer is an Adapter that supports connection-state recovery.
type Recoverer interface {
	SessionStore
	// EnableRecovery turns it on, before the adapter is used: from then on
	// the broadcasts Stored selects are stored, and delivered with their
	// offset in Flags.Offset.
	EnableRecovery(cfg RecoveryConfig) error
}

// RecoveryConfig configures recovery in an adapter.
type RecoveryConfig struct {
	// MaxDisconnection is how long a session and the packets it could have
	// missed are kept (socket.io's maxDisconnectionDuration). Required.
	MaxDisconnection time.Duration
	// MaxPackets, MaxBytes and MaxSessions bound a store in this process's
	// memory (Memory's; one namespace's): past them the oldest packets or
	// sessions are dropped (counted), and a client that missed a dropped
	// packet gets a new session. Zero means 10,000 packets, 16 MiB of
	// packets and 100,000 sessions. A store in Redis has bounds of its own.
	MaxPackets, MaxBytes, MaxSessions int
}

func (c RecoveryConfig) withDefaults() (RecoveryConfig, error) {
	if c.MaxDisconnection <= 0 {
		return c, errors.New("adapter: recovery needs a positive MaxDisconnection")
	}
	if c.MaxPackets < 0 || c.MaxBytes < 0 || c.MaxSessions < 0 {
		return c, errors.New("adapter: negative recovery bound")
	}
	if c.MaxPackets == 0 {
		c.MaxPackets = 10000
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = 16 << 20
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = 100000
	}
	return c, nil
}

// ErrOffsetGone: packets after the offset a client sent are no longer
// stored.
var ErrOffsetGone = errors.New("adapter: packets after the offset are no longer stored")

// ErrNoRecovery: a SessionStore method called on an adapter whose recovery
// is not enabled.
var ErrNoRecovery = errors.New("adapter: connection-state recovery is not enabled")
