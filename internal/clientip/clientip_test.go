package clientip

import (
	"net/netip"
	"testing"
)

func TestOf(t *testing.T) {
	trusted, err := Parse([]string{"10.0.0.0/8", " 192.0.2.7 ", "fd00::/8", ""})
	if err != nil {
		t.Fatal(err)
	}
	tt := []struct {
		name    string
		trusted Trusted
		remote  string
		xff     []string
		want    string
	}{
		// Nobody trusted: the peer, whatever the header says.
		{"no proxies", nil, "203.0.113.5:4711", []string{"1.2.3.4"}, "203.0.113.5"},
		{"untrusted peer", trusted, "203.0.113.5:4711", []string{"1.2.3.4"}, "203.0.113.5"},
		{"ipv6 peer", nil, "[2001:db8::1%eth0]:80", nil, "2001:db8::1"},
		{"mapped peer", nil, "[::ffff:198.51.100.1]:80", nil, "198.51.100.1"},
		{"bare peer", nil, "198.51.100.1", nil, "198.51.100.1"},
		{"bad peer", nil, "pipe", nil, "invalid IP"},

		// Behind trusted proxies: the right-most address not trusted.
		{"one proxy", trusted, "10.1.1.1:80", []string{"198.51.100.9"}, "198.51.100.9"},
		{"client spoofs the left", trusted, "10.1.1.1:80", []string{"6.6.6.6, 198.51.100.9"}, "198.51.100.9"},
		{"chain of proxies", trusted, "10.1.1.1:80", []string{"6.6.6.6, 198.51.100.9, 10.2.2.2, 192.0.2.7"}, "198.51.100.9"},
		{"several header lines", trusted, "10.1.1.1:80", []string{"6.6.6.6", "198.51.100.9", "10.2.2.2"}, "198.51.100.9"},
		{"all trusted", trusted, "10.1.1.1:80", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"},
		{"no header", trusted, "10.1.1.1:80", nil, "10.1.1.1"},
		{"empty entries", trusted, "10.1.1.1:80", []string{" , 198.51.100.9 ,"}, "198.51.100.9"},
		{"entry with port", trusted, "10.1.1.1:80", []string{"198.51.100.9:5555"}, "198.51.100.9"},
		{"ipv6 entry with port", trusted, "10.1.1.1:80", []string{"[2001:db8::9]:5555"}, "2001:db8::9"},
		{"ipv6 proxy", trusted, "[fd00::1]:80", []string{"2001:db8::9"}, "2001:db8::9"},
		// Garbage where an address should be: the last trusted hop's view.
		{"garbage", trusted, "10.1.1.1:80", []string{"unknown, 10.2.2.2"}, "10.2.2.2"},
		{"garbage right of peer", trusted, "10.1.1.1:80", []string{"198.51.100.9, garbage"}, "10.1.1.1"},
	}
	for _, tc := range tt {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.trusted.Of(tc.remote, tc.xff).String(); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, bad := range []string{"10.0.0.0/33", "example.org", "1.2.3"} {
		if _, err := Parse([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	tr, err := Parse([]string{"::ffff:10.0.0.1", "10.9.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]bool{"10.0.0.1": true, "10.0.0.2": false, "10.9.200.1": true} {
		if got := tr.Contains(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Contains(%s) = %v", addr, got)
		}
	}
}

func TestLimitKey(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.1":         "198.51.100.1",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::",
		"2001:db8:1:2::ffff":   "2001:db8:1:2::",
	} {
		if got := LimitKey(netip.MustParseAddr(in)).String(); got != want {
			t.Errorf("LimitKey(%s) = %s, want %s", in, got, want)
		}
	}
}

func FuzzOf(f *testing.F) {
	f.Add("10.1.1.1:80", "6.6.6.6, 198.51.100.9, [2001:db8::1]:4, x")
	trusted := Trusted{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("0.0.0.0/1")}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		a := trusted.Of(remote, []string{xff})
		if a.IsValid() && (a.Zone() != "" || a.Is4In6()) {
			t.Fatalf("%v not normalised", a)
		}
		if Peer(remote).IsValid() != a.IsValid() {
			t.Fatalf("valid peer %v gave %v", Peer(remote), a)
		}
	})
}
