package adapter_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/socketd/socketd/protocol/socketio"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/adaptertest"
)

// fakeClock is a time source tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func recoveringMemory(t *testing.T, cfg adapter.RecoveryConfig) (*adapter.Memory, *adaptertest.Namespace, *fakeClock) {
	t.Helper()
	ns := adaptertest.NewNamespace()
	m := adapter.NewMemory(ns)
	ns.SetAdapter(m)
	if err := m.EnableRecovery(cfg); err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: time.Unix(1700000000, 0)}
	adapter.SetRecoveryClock(m, clk.Now)
	return m, ns, clk
}

func emitText(t *testing.T, m *adapter.Memory, text string) {
	t.Helper()
	var a socketio.Args
	a.AddJSON([]byte(`"` + text + `"`))
	p := socketio.NewEvent("/", "e", a)
	if err := m.Broadcast(context.Background(), &p, adapter.BroadcastOptions{}); err != nil {
		t.Fatal(err)
	}
}

// The in-memory store keeps at most MaxPackets packets and about MaxBytes of
// them, and for MaxDisconnection: past a bound the oldest go (counted), and
// a client whose offset is before them cannot be told what it missed.
func TestMemoryRecoveryBounds(t *testing.T) {
	ctx := context.Background()
	m, ns, clk := recoveringMemory(t, adapter.RecoveryConfig{MaxDisconnection: time.Minute, MaxPackets: 3, MaxBytes: 4000, MaxSessions: 2})
	ns.Connect("s")
	offset := func(i int) adapter.Offset { return ns.Offsets("s")[i] }
	for i := range 3 {
		emitText(t, m, "x")
		if i > 0 && offset(i).Compare(offset(i-1)) <= 0 {
			t.Fatalf("offsets %v", ns.Offsets("s"))
		}
	}
	if missed, _, err := m.MissedPackets(ctx, offset(0), nil); err != nil || len(missed) != 2 {
		t.Fatalf("within the bounds: %d missed, %v", len(missed), err)
	}
	emitText(t, m, "x") // the 4th: the 1st goes, but what followed it is all there
	if missed, _, err := m.MissedPackets(ctx, offset(0), nil); err != nil || len(missed) != 3 {
		t.Fatalf("after the first was dropped: %d missed, %v", len(missed), err)
	}
	emitText(t, m, "x") // the 5th: the 2nd goes, which offset(0) missed
	if _, _, err := m.MissedPackets(ctx, offset(0), nil); err != adapter.ErrOffsetGone {
		t.Fatalf("after a missed packet was dropped: %v, want ErrOffsetGone", err)
	}
	if missed, _, err := m.MissedPackets(ctx, offset(1), nil); err != nil || len(missed) != 3 {
		t.Fatalf("from the oldest kept packet's predecessor: %d, %v", len(missed), err)
	}
	// Bytes: one big packet pushes out the others.
	emitText(t, m, strings.Repeat("y", 3700))
	st := m.RecoveryStats()
	if st.Packets != 1 || st.DroppedPackets != 5 || st.Bytes > 4000 {
		t.Fatalf("stats %+v: want 1 packet kept, 5 dropped", st)
	}
	// Age.
	clk.add(2 * time.Minute)
	emitText(t, m, "z")
	if st := m.RecoveryStats(); st.Packets != 1 || st.ExpiredPackets != 1 {
		t.Fatalf("stats %+v: want the old packet expired", st)
	}
	// Sessions: at most MaxSessions, then by age.
	last := ns.Offsets("s")[len(ns.Offsets("s"))-1]
	for _, pid := range []string{"a", "b", "c"} {
		_ = m.SaveSession(ctx, adapter.Session{SID: adapter.SocketID("sid-" + pid), PID: pid}, time.Minute)
	}
	if s, _ := m.TakeSession(ctx, "a", last); s != nil {
		t.Fatal("the oldest session was kept past MaxSessions")
	}
	if s, _ := m.TakeSession(ctx, "b", last); s == nil || s.SID != "sid-b" {
		t.Fatalf("session b: %+v", s)
	}
	clk.add(61 * time.Second)
	if s, _ := m.TakeSession(ctx, "c", last); s != nil {
		t.Fatal("an expired session was restored")
	}
	if st := m.RecoveryStats(); st.DroppedSessions != 1 || st.ExpiredSessions != 1 || st.Sessions != 0 {
		t.Fatalf("stats %+v", st)
	}
	// An offset of another run of the server (another epoch) is unknown.
	if _, _, err := m.MissedPackets(ctx, adapter.Offset{Hi: last.Hi - 1, Lo: last.Lo}, nil); err != adapter.ErrOffsetGone {
		t.Fatalf("another epoch: %v", err)
	}
	// And one from the future.
	if _, _, err := m.MissedPackets(ctx, adapter.Offset{Hi: last.Hi, Lo: last.Lo + 1}, nil); err != adapter.ErrOffsetGone {
		t.Fatalf("a future offset: %v", err)
	}
}

func TestOffsetText(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"1-0", true}, {"1700000000000-42", true}, {"18446744073709551615-18446744073709551615", true},
		{"0-0", false}, {"", false}, {"1", false}, {"1-", false}, {"-1", false}, {"a-1", false}, {"1-1-1", false},
		{"+1-1", false}, {"1- 1", false}, {"18446744073709551616-0", false}, {"١-1", false},
	} {
		o, ok := adapter.ParseOffset(tc.in)
		if ok != tc.ok {
			t.Errorf("%q: ok %v, want %v", tc.in, ok, tc.ok)
		}
		if ok && o.String() != tc.in {
			t.Errorf("%q: reads back as %q", tc.in, o.String())
		}
	}
}

func FuzzParseOffset(f *testing.F) {
	for _, s := range []string{"1-0", "1700000000000-42", "0-0", "x", "1-1-1", "99999999999999999999-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, ok := adapter.ParseOffset(s)
		if !ok {
			return
		}
		back, ok2 := adapter.ParseOffset(o.String())
		if !ok2 || back != o || o.IsZero() {
			t.Fatalf("%q -> %v -> %q", s, o, o.String())
		}
	})
}

func TestSelects(t *testing.T) {
	opts := func(rooms, except []adapter.Room) adapter.BroadcastOptions {
		return adapter.BroadcastOptions{Rooms: rooms, Except: except}
	}
	for _, tc := range []struct {
		rooms []adapter.Room
		opts  adapter.BroadcastOptions
		want  bool
	}{
		{[]adapter.Room{"s"}, opts(nil, nil), true},
		{[]adapter.Room{"s", "r"}, opts([]adapter.Room{"r"}, nil), true},
		{[]adapter.Room{"s"}, opts([]adapter.Room{"r"}, nil), false},
		{[]adapter.Room{"s", "r"}, opts(nil, []adapter.Room{"r"}), false},
		{[]adapter.Room{"s", "r"}, opts([]adapter.Room{"r"}, []adapter.Room{"s"}), false},
		{nil, opts(nil, nil), true},
	} {
		if got := adapter.Selects(tc.rooms, tc.opts); got != tc.want {
			t.Errorf("rooms %v opts %+v: %v, want %v", tc.rooms, tc.opts, got, tc.want)
		}
	}
}

// BenchmarkRecoveryHeld reports the heap the in-memory recovery store holds
// per stored packet (a 60-byte Drupal message to one room, the store
// keeping it with its rooms) and per saved session (a Drupal socket's six
// rooms and no data).
func BenchmarkRecoveryHeld(b *testing.B) {
	const n = 10000
	var perPacket, perSession float64
	for b.Loop() {
		ns := adaptertest.NewNamespace()
		m := adapter.NewMemory(ns)
		ns.SetAdapter(m)
		if err := m.EnableRecovery(adapter.RecoveryConfig{MaxDisconnection: time.Hour, MaxPackets: n, MaxBytes: 1 << 30, MaxSessions: n}); err != nil {
			b.Fatal(err)
		}
		before := heap()
		for i := range n {
			var a socketio.Args
			a.AddJSON([]byte(fmt.Sprintf(`{"channel":"news","callback":"cb","data":{"n":%d,"subject":"Hello"}}`, i)))
			p := socketio.NewEvent("/", "message", a)
			_ = m.Broadcast(context.Background(), &p, adapter.BroadcastOptions{Rooms: []adapter.Room{"channel:news"}})
		}
		mid := heap()
		for i := range n {
			id := fmt.Sprintf("sid-%016d", i)
			_ = m.SaveSession(context.Background(), adapter.Session{SID: adapter.SocketID(id), PID: fmt.Sprintf("pid-%016d", i),
				Rooms: []adapter.Room{adapter.Room(id), "drupal:authenticated", adapter.Room(fmt.Sprintf("drupal:uid:%d", i)),
					adapter.Room(fmt.Sprintf("drupal:token:tok-%d", i)), "channel:news", adapter.Room(fmt.Sprintf("channel:nodejs_user_%d", i))}}, time.Hour)
		}
		after := heap()
		perPacket = float64(mid-before) / n
		perSession = float64(after-mid) / n
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perPacket, "B/packet")
	b.ReportMetric(perSession, "B/session")
}

func heap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
