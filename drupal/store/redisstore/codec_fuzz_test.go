package redisstore

import (
	"bytes"
	"slices"
	"testing"
)

// FuzzDecode feeds what could come back from Redis to every decoder: none may
// panic, and what one accepts must survive being written and read again.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"", "0", "1,2,3", "42", "-1", "+1", "1,,2", "99999999999999999999",
		`{"f":true,"b":{"channel":"w","token":"k","n":1.50}}`,
		`{"f":false,"b":"x"}`, `{"f":1,"b":{}}`, `{"b":null}`,
		memberHead("node1", 5, "tok\n\"x") + `{"f":true,"b":{"a":[1,2]}}}`,
		`{"n":"a","u":-3,"t":"","tok":{"f":false,"b":{}}}`,
		`{"n":"a","u":1e3,"t":"","tok":{"f":false,"b":{}}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if uid, err := decodeUID(s); err == nil {
			if uid < 0 {
				t.Fatalf("decodeUID(%q) = %d", s, uid)
			}
		}
		if list, err := decodeList(s); err == nil {
			again, err := decodeList(encodeList(list))
			if err != nil || !slices.Equal(again, list) {
				t.Fatalf("list %q: %v, again %v, %v", s, list, again, err)
			}
		}
		if v, err := decodeToken(s); err == nil {
			again, err := decodeToken(encodeToken(v.Notify, v.Body))
			if err != nil || again.Notify != v.Notify || !bytes.Equal(again.Body, v.Body) {
				t.Fatalf("token %q: %+v, again %+v, %v", s, v, again, err)
			}
		}
		if m, err := decodeMember(s); err == nil {
			enc := memberHead(m.Node, m.UID, m.AuthToken) + encodeToken(m.Token.Notify, m.Token.Body) + "}"
			again, err := decodeMember(enc)
			if err != nil || again.Node != m.Node || again.UID != m.UID || again.AuthToken != m.AuthToken ||
				again.Token.Notify != m.Token.Notify || !bytes.Equal(again.Token.Body, m.Token.Body) {
				t.Fatalf("member %q: %+v, again %+v, %v", s, m, again, err)
			}
		}
		if a, err := decodeAuth("tok", []string{s, s}); err == nil && (a.UID < 0 || a.Token != "tok") {
			t.Fatalf("auth %q: %+v", s, a)
		}
	})
}
