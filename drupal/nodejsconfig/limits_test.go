package nodejsconfig

import (
	"strings"
	"testing"
	"time"
)

// TestLimitsKeys: the limit keys load with the usual leniency (numbers in
// strings, a single proxy as a one-item list), take their defaults, and bad
// values are refused naming the key.
func TestLimitsKeys(t *testing.T) {
	src := `settings = {maxConnections: -1, maxConnectionsPerIP: '50', handshakeRatePerIP: '0.5',
		handshakeBurstPerIP: 20, maxMessagesPerSecond: 12.5, handshakeTimeout: '10s', trustedProxies: '10.0.0.0/8'};`
	c, err := LoadEnviron(writeConfigTemp(t, "c.js", src), nil)
	if err != nil {
		t.Fatal(err)
	}
	c = c.WithDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.MaxConnections != -1 || c.MaxConnectionsPerIP != 50 || c.HandshakeRatePerIP != 0.5 || c.HandshakeBurstPerIP != 20 ||
		c.MaxMessagesPerSecond != 12.5 || c.HandshakeTimeout != Duration(10*time.Second) ||
		len(c.TrustedProxies) != 1 || c.TrustedProxies[0] != "10.0.0.0/8" || len(c.Ignored) != 0 {
		t.Fatalf("loaded %+v", c)
	}

	d := Config{}.WithDefaults()
	if d.MaxConnections != 0 || d.MaxConnectionsPerIP != 0 || d.HandshakeRatePerIP != 0 ||
		d.MaxMessagesPerSecond != DefaultMaxMessagesPerSecond || d.HandshakeTimeout != Duration(DefaultHandshakeTimeout) {
		t.Fatalf("defaults %+v", d)
	}

	for _, bad := range []struct {
		c    Config
		want string
	}{
		{Config{MaxConnections: -2}, "maxConnections"},
		{Config{MaxMessagesPerSecond: -3}, "maxMessagesPerSecond"},
		{Config{HandshakeRatePerIP: -1}, "handshakeRatePerIP"},
		{Config{TrustedProxies: []string{"proxy.local"}}, `trustedProxies: "proxy.local"`},
		{Config{TrustedProxies: []string{"10.0.0.0/40"}}, "trustedProxies"},
	} {
		err := bad.c.WithDefaults().Validate()
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want an error naming %s", bad.c, err, bad.want)
		}
	}
}
