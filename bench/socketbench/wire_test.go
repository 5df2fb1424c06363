package main

import (
	"strings"
	"testing"
	"time"
)

// serverFrame encodes an unmasked server frame.
func serverFrame(b0 byte, payload string) []byte {
	f := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		f = append(f, byte(n))
	case n <= 0xFFFF:
		f = append(f, 126, byte(n>>8), byte(n))
	}
	return append(f, payload...)
}

func newTestBench(t *testing.T) *bench {
	t.Helper()
	cfg := config{N: 4, EIO: 4, Channels: 2, Broadcasts: 1, Scenario: "broadcast", MaxStages: 1, IO: "goroutine", URL: "http://127.0.0.1:1"}
	b, err := newBench(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Frames split anywhere across reads, extended lengths and fragmented
// messages all reach the Engine.IO layer whole.
func TestFeedSplitsAndFragments(t *testing.T) {
	b := newTestBench(t)
	c := &client{b: b, idx: 1}
	c.st.Store(stAuthed)
	b.pubs[0].sent.Store(1)
	b.pubs[0].expected.Store(1)
	big := `42["message",{"data":{"sbseq":0,"body":"` + strings.Repeat("y", 300) + `"}}]`
	var stream []byte
	stream = append(stream, serverFrame(0x81, big)...) // 126-length form
	for i := 0; i < len(stream); i++ {                 // one byte per read
		c.feed(stream[i : i+1])
	}
	if got := b.pubs[0].got.Load(); got != 1 {
		t.Fatalf("split frame: %d deliveries, want 1", got)
	}
	// A fragmented copy of the same message is a duplicate for this client.
	frag := append(serverFrame(0x01, big[:10]), serverFrame(0x00, big[10:20])...)
	frag = append(frag, serverFrame(0x80, big[20:])...)
	c.feed(frag)
	if d := b.dups.Load(); d != 1 {
		t.Fatalf("fragmented message: %d duplicates, want 1", d)
	}
	if len(c.pend) != 0 || c.msg != nil || c.failed != nil {
		t.Fatalf("state left: pend %d msg %v failed %v", len(c.pend), c.msg, c.failed)
	}
}

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.add(int64(i) * int64(time.Microsecond))
	}
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want := q * 1000 * float64(time.Microsecond)
		got := float64(h.quantile(q))
		if got < want*0.96 || got > want*1.04 {
			t.Errorf("q%.2f = %.0f, want about %.0f", q, got, want)
		}
	}
	if h.quantile(1) != int64(1000*time.Microsecond) {
		t.Errorf("max = %d", h.quantile(1))
	}
	for b := 0; b < histBuckets-1; b++ {
		if histBucket(histLow(b)) != b || histLow(b+1) <= histLow(b) {
			t.Fatalf("bucket %d: low %d maps to %d", b, histLow(b), histBucket(histLow(b)))
		}
	}
}
