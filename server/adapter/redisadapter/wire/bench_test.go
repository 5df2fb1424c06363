package wire

import (
	"encoding/json"
	"testing"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
)

// benchPackets are the broadcasts the benchmarks carry: a Drupal message
// (a JSON object of about 250 bytes) and an event with a 1 KiB Buffer.
func benchPackets() map[string]socketio.Packet {
	var drupal socketio.Args
	drupal.AddJSON(json.RawMessage(`{"type":"message","channel":"nodejs_notify","callback":"nodejsNotify","data":{"subject":"New comment","body":"<p>Someone replied to your post \u00e9 \u2603</p>","count":42,"ratio":0.75,"tags":["a","b","c"],"seen":false,"time":1733300000000}}`))
	var bin socketio.Args
	bin.AddJSON(json.RawMessage(`{"frame":17}`))
	bin.AddBinary(make([]byte, 1024))
	return map[string]socketio.Packet{
		"drupal": socketio.NewEvent("/", "message", drupal),
		"binary": socketio.NewEvent("/", "frame", bin),
	}
}

var benchOpts = Opts{Rooms: []adapter.Room{"channel:nodejs_notify"}, Except: []adapter.Room{"sock-000000000000001"}}

// BenchmarkAppendBroadcast is the publishing node's cost per broadcast: the
// message encoded once for Redis.
func BenchmarkAppendBroadcast(b *testing.B) {
	for name, pkt := range benchPackets() {
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, err = AppendBroadcast(buf[:0], "abcdef", &pkt, benchOpts); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkDecodeBroadcast is a receiving node's cost per broadcast: the
// message decoded once into the packet its sockets get.
func BenchmarkDecodeBroadcast(b *testing.B) {
	for name, pkt := range benchPackets() {
		b.Run(name, func(b *testing.B) {
			msg, err := AppendBroadcast(nil, "abcdef", &pkt, benchOpts)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeBroadcast(msg, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
