// Package clientip finds the address of the client behind a request: the
// peer's, or behind trusted proxies the right-most address of
// X-Forwarded-For that no trusted proxy added.
//
// Each proxy appends the address it received the request from to
// X-Forwarded-For, so the list reads client, proxy1, proxy2, ... and the peer
// is the last proxy. Only entries added by proxies we trust can be believed:
// a client can write anything it likes to the left of them. So the list is
// read from the right, skipping trusted addresses, and the first address not
// trusted is the client. When every address is trusted the left-most is it.
package clientip

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Trusted is a list of proxy networks. The zero value trusts nobody: the
// client is always the peer.
type Trusted []netip.Prefix

// Parse reads CIDRs ("10.0.0.0/8", "fd00::/8") and single addresses
// ("192.0.2.7", taken as /32 or /128).
func Parse(list []string) (Trusted, error) {
	var t Trusted
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			t = append(t, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want an address or a CIDR", s)
		}
		a = a.Unmap().WithZone("")
		t = append(t, netip.PrefixFrom(a, a.BitLen()))
	}
	return t, nil
}

// Contains reports whether a is in one of the trusted networks.
func (t Trusted) Contains(a netip.Addr) bool {
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Of returns the client's address for a request from remoteAddr (net/http's
// Request.RemoteAddr, "ip:port") carrying forwardedFor (the values of its
// X-Forwarded-For headers, in order). IPv4-mapped IPv6 addresses are
// returned as IPv4, without zone. It is the zero Addr only when remoteAddr
// does not parse.
func (t Trusted) Of(remoteAddr string, forwardedFor []string) netip.Addr {
	peer := Peer(remoteAddr)
	if !peer.IsValid() || len(t) == 0 || !t.Contains(peer) {
		return peer
	}
	client := peer
	for i := len(forwardedFor) - 1; i >= 0; i-- {
		list := forwardedFor[i]
		for list != "" {
			var entry string
			if j := strings.LastIndexByte(list, ','); j >= 0 {
				entry, list = list[j+1:], list[:j]
			} else {
				entry, list = list, ""
			}
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			a := parseEntry(entry)
			if !a.IsValid() {
				// Not an address: not written by a proxy we trust, so the
				// client is the one the last trusted proxy saw.
				return client
			}
			client = a
			if !t.Contains(a) {
				return client
			}
		}
	}
	return client
}

// Peer is the address of remoteAddr ("ip:port", or a bare address).
func Peer(remoteAddr string) netip.Addr {
	if ap, err := netip.ParseAddrPort(remoteAddr); err == nil {
		return normal(ap.Addr())
	}
	return parseEntry(remoteAddr)
}

// parseEntry reads one X-Forwarded-For entry: an address, or an address with
// a port ("192.0.2.1:4711", "[2001:db8::1]:4711"), as some proxies write.
func parseEntry(s string) netip.Addr {
	if a, err := netip.ParseAddr(s); err == nil {
		return normal(a)
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return normal(ap.Addr())
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return normal(a)
		}
	}
	return netip.Addr{}
}

func normal(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }

// LimitKey is the address a per-address limit counts a client under: an
// IPv4 address as is, an IPv6 address by its /64. One IPv6 subscriber
// (a home, a phone) is given a whole /64, and counting its addresses apart
// would let it walk around any per-address limit.
func LimitKey(a netip.Addr) netip.Addr {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}
