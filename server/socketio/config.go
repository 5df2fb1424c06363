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
}

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
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Engine.Logger == nil {
		c.Engine.Logger = c.Logger
	}
	return c, nil
}
