package main

import (
	"time"

	"github.com/socketd/socketd/server/socketio"
)

// recoveryConfig is the Recovery of -recovery and -recovery-max-packets:
// nil (off) without -recovery.
func recoveryConfig(window time.Duration, maxPackets int) *socketio.Recovery {
	if window <= 0 {
		return nil
	}
	return &socketio.Recovery{MaxDisconnectionDuration: window, MaxPackets: maxPackets}
}

// recoveryHandlers adds the test events of ../recovery_test.go to n:
//   - "stream" (room, tag, count, everyMs, ack) acks at once, then emits
//     "seq" (tag, i) to room for i from 0 to count-1, one every everyMs
//     milliseconds, from this node;
//   - "state" (ack) acks {id, recovered, rooms} of the asking socket.
func recoveryHandlers(n *socketio.Namespace) {
	n.On("stream", func(s *socketio.Socket, e *socketio.Event) {
		var (
			room, tag    string
			count, every int
		)
		if e.Arg(0, &room) != nil || e.Arg(1, &tag) != nil || e.Arg(2, &count) != nil || e.Arg(3, &every) != nil || count > 100000 {
			_ = e.Ack(map[string]string{"error": "want room, tag, count, everyMs"})
			return
		}
		_ = e.Ack(map[string]int{"count": count})
		go func() {
			for i := range count {
				_ = n.To(room).Emit("seq", tag, i)
				time.Sleep(time.Duration(every) * time.Millisecond)
			}
		}()
	})
	n.On("state", func(s *socketio.Socket, e *socketio.Event) {
		_ = e.Ack(map[string]any{"id": s.ID(), "recovered": s.Recovered(), "rooms": s.Rooms()})
	})
}
