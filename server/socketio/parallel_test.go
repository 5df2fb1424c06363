package socketio_test

import (
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
)

// A broadcast to enough sockets is written by several goroutines; every socket
// must still get every packet once, in the order the broadcasts were made.
func TestParallelBroadcastKeepsOrder(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4)) // split even on a one-core runner
	io := newBenchServer(t)
	const n = 1600 // three parts of 512 or more
	sids := pollingClients(t, io, n)
	nsp := io.Of("/")
	const msgs = 5
	for i := range msgs {
		if err := nsp.Emit("m", i); err != nil {
			t.Fatal(err)
		}
	}
	var want strings.Builder
	for i := range msgs {
		if i > 0 {
			want.WriteByte('\x1e')
		}
		fmt.Fprintf(&want, `42["m",%d]`, i)
	}
	for _, sid := range sids {
		w := httptest.NewRecorder()
		io.ServeHTTP(w, httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=polling&sid="+sid, nil))
		if got := w.Body.String(); got != want.String() {
			t.Fatalf("session %s got %q, want %q", sid, got, want.String())
		}
	}
}
