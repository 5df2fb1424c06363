package adminui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	psio "github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/socketio"
)

const (
	// maxEventBytes bounds the arguments shown of one event: past it only
	// the name and the size are, so that the event queue stays small (a
	// Drupal publish may weigh a megabyte).
	maxEventBytes = 4 << 10
	// maxSentPerDelivery bounds the event_sent reports of one broadcast: a
	// publish to a channel of thousands would otherwise bury the UI's event
	// list (it keeps the last 1,000) and fill the queue.
	maxSentPerDelivery = 20
)

// EventReceived implements socketio.EventObserver: event_received.
func (ad *Admin) EventReceived(s *socketio.Socket, data []byte) {
	n := s.Namespace()
	if n.Name() == ad.adminName || !ad.reporting() {
		return
	}
	ad.queue("event_received", n.Name(), s.ID(), eventArgs(data), timestamp(time.Now()))
}

// EventSent implements socketio.EventObserver: event_sent, for the first
// maxSentPerDelivery sockets of a delivery.
func (ad *Admin) EventSent(n *socketio.Namespace, sockets []*socketio.Socket, data []byte) {
	if n.Name() == ad.adminName || !ad.reporting() {
		return
	}
	args, ts := eventArgs(data), timestamp(time.Now())
	for _, s := range sockets[:min(len(sockets), maxSentPerDelivery)] {
		ad.queue("event_sent", n.Name(), s.ID(), args, ts)
	}
}

// eventArgs is the [name, args...] array the UI shows, a copy of data (which
// is only valid during the observer's call), or the name and the size when
// data is larger than maxEventBytes.
func eventArgs(data []byte) json.RawMessage {
	if len(data) <= maxEventBytes {
		return json.RawMessage(bytes.Clone(data))
	}
	name, _, err := psio.SplitEvent(data)
	if err != nil {
		name = "?"
	}
	out := psio.AppendEventData(nil, name, json.RawMessage(psio.AppendJSONString(nil, fmt.Sprintf("[%d bytes, not shown by socketd]", len(data)))))
	return out
}
