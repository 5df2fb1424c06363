package engine

import (
	"net/netip"
	"testing"
	"unsafe"
)

// TestIPTableBounded: a flood of addresses (a spoofed X-Forwarded-For behind
// a proxy trusted too widely, or an IPv6 range walked) cannot grow the
// per-address table past its bound, and never makes it forget an address
// that has sessions open: that one's count stays exact.
func TestIPTableBounded(t *testing.T) {
	lim := newLimiter(Limits{MaxSessionsPerIP: 2, HandshakeRatePerIP: 0.001, HandshakeBurstPerIP: 5, MaxTrackedIPs: 256})
	held := netip.MustParseAddr("192.0.2.1")
	heldKeys := make([]uint64, 0, 2)
	for range 2 {
		key, _, _, ok := lim.admit(held)
		if !ok {
			t.Fatal("held address refused")
		}
		heldKeys = append(heldKeys, key)
	}
	const flood = 50_000
	for i := range flood {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		key, _, _, ok := lim.admit(a)
		if !ok {
			t.Fatalf("new address %v refused", a)
		}
		// Its session ends at once; its rate (one handshake of 5, 1000 s
		// to recover) keeps it in the table until evicted.
		lim.release(key)
		if n := lim.ips.size.Load(); n > 256+ipShards+1 {
			t.Fatalf("table holds %d addresses after %d, bound 256", n, i+1)
		}
	}
	if lim.ips.evicted.Load() < flood/2 {
		t.Fatalf("only %d evicted", lim.ips.evicted.Load())
	}
	// The held address still has its two sessions counted.
	if _, at, _, ok := lim.admit(held); ok || at != LimitSessionsPerIP {
		t.Fatalf("held address admitted a third session (at %v)", at)
	}
	for _, k := range heldKeys {
		lim.release(k)
	}
	if _, _, _, ok := lim.admit(held); !ok {
		t.Fatal("held address refused after its sessions ended")
	}
	if lim.total.Load() != 1 {
		t.Fatalf("total %d, want 1", lim.total.Load())
	}
}

// TestIPTableRate: the GCRA lets a burst through, then one handshake per
// interval; addresses are counted apart, and an IPv6 /64 as one.
func TestIPTableRate(t *testing.T) {
	tab := newLimiter(Limits{HandshakeRatePerIP: 0.001, HandshakeBurstPerIP: 3, MaxTrackedIPs: 64})
	v6a, v6b := netip.MustParseAddr("2001:db8:0:1::a"), netip.MustParseAddr("2001:db8:0:1::b")
	for i := range 3 {
		a := v6a
		if i == 1 {
			a = v6b // the same /64
		}
		if _, _, _, ok := tab.admit(a); !ok {
			t.Fatalf("handshake %d refused", i)
		}
	}
	_, at, retry, ok := tab.admit(v6b)
	if ok || at != LimitHandshakeRatePerIP || retry < 900e9 || retry > 1000e9 {
		t.Fatalf("fourth: ok %v at %v retry %v", ok, at, retry)
	}
	if _, _, _, ok := tab.admit(netip.MustParseAddr("2001:db8:0:2::a")); !ok {
		t.Fatal("another /64 refused")
	}
}

// TestSessionSize: a session fills the 288-byte allocation class; a field
// more moves every connection to the 320-byte one (see Session).
func TestSessionSize(t *testing.T) {
	if n := unsafe.Sizeof(Session{}); n > 288 {
		t.Fatalf("Session is %d bytes, want at most 288", n)
	}
}
