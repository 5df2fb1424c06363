package adminui

import (
	"encoding/json"
	"testing"
)

// FuzzSocketData: the data of a socket of another node (from Redis) never
// makes the UI's socket description invalid JSON, and "_admin" never shows.
func FuzzSocketData(f *testing.F) {
	for _, s := range []string{``, `null`, `{}`, `"x"`, `[1,2]`, `{"a":1}`,
		`{"_admin":{"clientId":"abc","transport":"polling"},"user":7}`, `{"_admin":5}`, `{"_admin":`, ` {"x":{}} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 0 && !json.Valid(raw) {
			return // RemoteSocket.Data is JSON (the adapter's decoder checks it)
		}
		data, _, _ := socketData(raw)
		if !json.Valid(data) {
			t.Fatalf("socketData(%q) = %q, not JSON", raw, data)
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(data, &obj) == nil {
			if _, ok := obj["_admin"]; ok {
				t.Fatalf("socketData(%q) kept _admin: %s", raw, data)
			}
		}
	})
}

// FuzzParseAuth: whatever a client puts in its CONNECT payload, the admin
// namespace's middleware reads it without panicking, and only strings count.
func FuzzParseAuth(f *testing.F) {
	for _, s := range []string{`{}`, `{"sessionId":"abc"}`, `{"username":"a","password":"b"}`, `{"password":1}`, `[]`, `null`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		a := parseAuth(raw)
		var typed struct{ SessionID, Username, Password any }
		if a != (authPayload{}) && json.Unmarshal(raw, &typed) != nil {
			t.Fatalf("parseAuth(%q) = %+v from invalid JSON", raw, a)
		}
	})
}
