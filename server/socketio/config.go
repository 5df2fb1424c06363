package socketio

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/engine"
)

// Config configures a Server. The zero value works; defaults are socket.io 4's.
type Config struct {
	// Engine configures the Engine.IO layer. Its Logger defaults to Logger.
	Engine engine.Config
	// ConnectTimeout is how long an EIO=4 client may take to connect to a
	// namespace before its connection is closed (engine.ReasonHandshakeTimeout,
	// logged at debug). Zero means 45s. EIO=3 clients are connected to "/"
	// with their session.
	ConnectTimeout time.Duration
	// MessageRate bounds the messages a client may send: on average
	// MessageRate a second, MessageBurst at once (zero means MessageRate,
	// at least 1). Every Engine.IO message counts: a Socket.IO packet, and
	// each binary attachment of one. A client past it is closed
	// (engine.ReasonMessageRate, logged); the rest of what it sent is
	// dropped. Zero: no limit. The bound costs 8 bytes a client, inside
	// its allocation.
	MessageRate  float64
	MessageBurst int
	// MaxAttachments bounds the binary attachments of one packet. Zero means 10.
	MaxAttachments int
	// MaxDepth bounds JSON nesting in a packet. Zero means 64.
	MaxDepth int
	// MaxBufferedBytes bounds the attachment bytes a client may have sent
	// for a binary packet that is not complete yet; passing it closes the
	// connection (engine.ReasonPayloadTooLarge), logged. Zero means
	// Engine.MaxHTTPBufferSize (1e6 by default): a packet with its
	// attachments weighs no more over WebSocket, one message per attachment,
	// than it may in one polling POST. Without it a client could announce
	// MaxAttachments and hold nearly that many times maxHttpBufferSize.
	MaxBufferedBytes int
	// DisallowBinary refuses binary packets (BINARY_EVENT, BINARY_ACK) from
	// clients: the connection is closed (engine.ReasonProtocolError), logged,
	// before any attachment is buffered. For applications whose clients
	// never send binary, such as Drupal's.
	DisallowBinary bool
	// Adapter makes each namespace's adapter. Nil means adapter.MemoryFactory.
	Adapter adapter.Factory
	// Logger receives connection-level events. Nil means nothing is logged.
	Logger *slog.Logger
	// Recovery turns connection-state recovery on (socket.io's
	// connectionStateRecovery). Nil means off: no private id, offset or
	// stored packet, nothing kept per socket.
	Recovery *Recovery
}

// Recovery configures connection-state recovery (socket.io 4.6+): a v5 client
// whose connection dropped that connects again within MaxDisconnectionDuration
// gets back its socket id, rooms and data (Socket.Recovered reports it) and is
// sent the broadcasts it missed, in order, before anything newer. The client
// proves the session is its own with the private id ("pid") of its CONNECT
// reply, and says what it has with the offset appended as the last argument
// of every stored broadcast (an event without ack that is not volatile).
//
// Every namespace's adapter must support it (adapter.Recoverer): the
// in-memory adapter keeps the packets in this process, the Redis adapter in
// Redis so that a client recovers on any node.
//
// v4 clients (socket.io-client 1.x/2.x) cannot recover and get their packets
// as before. v5 clients cannot be told apart by version: socket.io-client
// 3.x and 4.0-4.5 receive the offset as an extra last argument of stored
// broadcasts, as they would from Node socket.io with recovery on.
type Recovery struct {
	// MaxDisconnectionDuration is how long a session and the packets it
	// could miss are kept. Zero means 2 minutes.
	MaxDisconnectionDuration time.Duration
	// RunMiddlewares runs the namespace's middlewares for a recovered
	// socket too (socket.io's skipMiddlewares: false). By default they are
	// skipped: the socket passed them when it first connected.
	RunMiddlewares bool
	// MaxPackets, MaxBytes and MaxSessions bound the in-memory adapter's
	// store, per namespace (adapter.RecoveryConfig; zero: its defaults).
	MaxPackets, MaxBytes, MaxSessions int
	// MaxBufferedBytes bounds what a socket being recovered is sent live
	// while its missed packets are read (held back so that they come first).
	// Passing it closes the connection as a slow consumer. Zero means
	// Engine.MaxQueueBytes (4 MiB by default).
	MaxBufferedBytes int
}

// defaultMaxDisconnection is socket.io's maxDisconnectionDuration default.
const defaultMaxDisconnection = 2 * time.Minute

func (c Config) withDefaults() (Config, error) {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 45 * time.Second
	}
	if c.ConnectTimeout < 0 || c.MaxAttachments < 0 || c.MaxDepth < 0 || c.MaxBufferedBytes < 0 || c.MessageRate < 0 || c.MessageBurst < 0 {
		return c, fmt.Errorf("socketio: negative ConnectTimeout, MaxAttachments, MaxDepth, MaxBufferedBytes, MessageRate or MessageBurst")
	}
	if c.MessageRate > 0 && c.MessageBurst == 0 {
		c.MessageBurst = max(1, int(c.MessageRate))
	}
	if c.MaxBufferedBytes == 0 {
		c.MaxBufferedBytes = int(c.Engine.MaxHTTPBufferSize)
		if c.MaxBufferedBytes == 0 {
			c.MaxBufferedBytes = 1e6 // engine.Config's default
		}
	}
	if c.Adapter == nil {
		c.Adapter = adapter.MemoryFactory
	}
	if r := c.Recovery; r != nil {
		rc := *r
		if rc.MaxDisconnectionDuration < 0 || rc.MaxPackets < 0 || rc.MaxBytes < 0 || rc.MaxSessions < 0 || rc.MaxBufferedBytes < 0 {
			return c, fmt.Errorf("socketio: negative Recovery bound")
		}
		if rc.MaxDisconnectionDuration == 0 {
			rc.MaxDisconnectionDuration = defaultMaxDisconnection
		}
		if rc.MaxBufferedBytes == 0 {
			rc.MaxBufferedBytes = c.Engine.MaxQueueBytes
			if rc.MaxBufferedBytes == 0 {
				rc.MaxBufferedBytes = 4 << 20 // engine.Config's default
			}
		}
		c.Recovery = &rc
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Engine.Logger == nil {
		c.Engine.Logger = c.Logger
	}
	return c, nil
}
