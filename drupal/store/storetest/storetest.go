// Package storetest is the conformance suite of store.Store implementations:
// what the Drupal bridge relies on from any store, on one node. Cluster
// behaviour (several nodes on one shared store) is tested beside each shared
// implementation.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/socketd/socketd/drupal/store"
)

// Grace is the offline grace period the suite's stores must be built with.
const Grace = 2 * time.Second

// Factory builds an empty store whose time is clk, with OfflineGrace Grace,
// not yet started. It registers its own cleanup.
type Factory func(t *testing.T, clk *Clock) store.Store

// Event is a Handler call.
type Event struct {
	Online bool
	UID    int64
	List   []int64
}

// Recorder is a store.Handler that records its calls.
type Recorder struct{ Events chan Event }

// NewRecorder returns a Recorder with room for n calls.
func NewRecorder(n int) *Recorder { return &Recorder{Events: make(chan Event, n)} }

// UserOffline implements store.Handler.
func (r *Recorder) UserOffline(uid int64, list []int64) { r.Events <- Event{false, uid, list} }

// UserOnline implements store.Handler.
func (r *Recorder) UserOnline(uid int64, list []int64) { r.Events <- Event{true, uid, list} }

// Expect checks that the calls so far are want, in order, and takes them.
// Stores call the handler from the goroutine that advances their clock (or
// from the call that decided), so by the time Advance or the call returns the
// events are recorded.
func (r *Recorder) Expect(t testing.TB, want ...Event) {
	t.Helper()
	var got []Event
	for {
		select {
		case e := <-r.Events:
			got = append(got, e)
			continue
		default:
		}
		break
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("handler calls %+v, want %+v", got, want)
	}
}

type env struct {
	t   *testing.T
	s   store.Store
	clk *Clock
	rec *Recorder
	ctx context.Context
}

// Run runs the suite against the stores newStore builds.
func Run(t *testing.T, newStore Factory) {
	for _, tc := range []struct {
		name string
		fn   func(e *env)
	}{
		{"AuthCache", testAuthCache},
		{"AuthEdits", testAuthEdits},
		{"Channels", testChannels},
		{"PresenceOnlineOffline", testPresenceOnlineOffline},
		{"PresenceGrace", testPresenceGrace},
		{"PresenceSessions", testPresenceSessions},
		{"ContentTokens", testContentTokens},
		{"ContentTokensExpire", testContentTokensExpire},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := NewClock()
			s := newStore(t, clk)
			rec := NewRecorder(100)
			if err := s.Start(rec); err != nil {
				t.Fatal(err)
			}
			tc.fn(&env{t: t, s: s, clk: clk, rec: rec, ctx: t.Context()})
		})
	}
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) stats() store.Stats {
	e.t.Helper()
	st, err := e.s.Stats(e.ctx)
	e.must(err)
	return st
}

func auth(token string, uid int64) *store.Auth {
	return &store.Auth{Token: token, UID: uid, Reply: json.RawMessage(fmt.Sprintf(`{"uid":%d,"authToken":%q}`, uid, token))}
}

func (e *env) cached(token string) *store.Auth {
	e.t.Helper()
	a, err := e.s.CachedAuth(e.ctx, token)
	e.must(err)
	return a
}

func sameAuth(a, b *store.Auth) bool {
	return a != nil && b != nil && a.Token == b.Token && a.UID == b.UID && string(a.Reply) == string(b.Reply)
}

func testAuthCache(e *env) {
	const ttl = time.Hour
	if a := e.cached("t1"); a != nil {
		e.t.Fatalf("empty cache answered %+v", a)
	}
	a1, a1b, a2 := auth("t1", 1), auth("t1b", 1), auth("t2", 2)
	for _, a := range []*store.Auth{a1, a1b, a2} {
		e.must(e.s.CacheAuth(e.ctx, a, ttl))
	}
	if got := e.cached("t1"); !sameAuth(got, a1) {
		e.t.Fatalf("cached %+v, want %+v", got, a1)
	}
	if st := e.stats(); st.AuthenticatedClients != 3 {
		e.t.Fatalf("stats %+v", st)
	}
	// Replacing an entry does not count it twice.
	e.must(e.s.CacheAuth(e.ctx, a2, ttl))
	if st := e.stats(); st.AuthenticatedClients != 3 {
		e.t.Fatalf("after replace %+v", st)
	}

	// Logout drops one token, kick every token of a user.
	if ok, err := e.s.ForgetToken(e.ctx, "t2"); err != nil || !ok {
		e.t.Fatalf("ForgetToken = %v, %v", ok, err)
	}
	if ok, _ := e.s.ForgetToken(e.ctx, "t2"); ok {
		e.t.Fatal("ForgetToken of a forgotten token reported one")
	}
	if e.cached("t2") != nil {
		e.t.Fatal("logged out token still cached")
	}
	e.must(e.s.CacheAuth(e.ctx, a2, ttl))
	e.must(e.s.ForgetUser(e.ctx, 1))
	if e.cached("t1") != nil || e.cached("t1b") != nil {
		e.t.Fatal("kicked user still cached")
	}
	if !sameAuth(e.cached("t2"), a2) {
		e.t.Fatal("kick dropped another user's entry")
	}

	// Entries expire after their ttl, each its own.
	e.clk.Advance(ttl / 2)
	e.must(e.s.CacheAuth(e.ctx, a1, ttl))
	e.clk.Advance(ttl/2 - time.Second)
	if e.cached("t2") == nil {
		e.t.Fatal("expired early")
	}
	e.clk.Advance(time.Second)
	if e.cached("t2") != nil {
		e.t.Fatal("not expired after its ttl")
	}
	if e.cached("t1") == nil {
		e.t.Fatal("a younger entry expired with an older one")
	}
	e.clk.Advance(ttl/2 + 2*time.Minute)
	if st := e.stats(); st.AuthenticatedClients != 0 {
		e.t.Fatalf("after every ttl %+v", st)
	}
}

func testAuthEdits(e *env) {
	const ttl = time.Hour
	a1, a1b, a2 := auth("t1", 1), auth("t1b", 1), auth("t2", 2)
	for _, a := range []*store.Auth{a1, a1b, a2} {
		e.must(e.s.CacheAuth(e.ctx, a, ttl))
	}
	edited := func(a *store.Auth) *store.Auth {
		return &store.Auth{Token: a.Token, UID: a.UID, Reply: json.RawMessage(`{"edited":` + string(a.Reply) + `}`)}
	}
	e.must(e.s.EditUserAuths(e.ctx, 1, edited))
	for _, a := range []*store.Auth{a1, a1b} {
		if got := e.cached(a.Token); got == nil || string(got.Reply) != `{"edited":`+string(a.Reply)+`}` {
			e.t.Fatalf("%s after EditUserAuths: %+v", a.Token, got)
		}
	}
	if !sameAuth(e.cached("t2"), a2) {
		e.t.Fatal("EditUserAuths changed another user's entry")
	}
	// nil leaves an entry as it is.
	e.must(e.s.EditUserAuths(e.ctx, 2, func(*store.Auth) *store.Auth { return nil }))
	if !sameAuth(e.cached("t2"), a2) {
		e.t.Fatal("a nil edit changed the entry")
	}
	e.must(e.s.EditTokenAuth(e.ctx, "t2", edited))
	if got := e.cached("t2"); got == nil || string(got.Reply) != `{"edited":`+string(a2.Reply)+`}` {
		e.t.Fatalf("after EditTokenAuth: %+v", got)
	}
	e.must(e.s.EditTokenAuth(e.ctx, "nope", edited))
	if e.cached("nope") != nil {
		e.t.Fatal("an edit created an entry")
	}
	// An edit keeps the expiry.
	e.clk.Advance(ttl)
	if e.cached("t2") != nil || e.cached("t1") != nil {
		e.t.Fatal("an edit extended the ttl")
	}
}

func testChannels(e *env) {
	check := func(name string, exists, writable bool) {
		e.t.Helper()
		ex, w, err := e.s.Channel(e.ctx, name)
		e.must(err)
		if ex != exists || w != writable {
			e.t.Fatalf("Channel(%s) = %v, %v; want %v, %v", name, ex, w, exists, writable)
		}
	}
	check("a", false, false)
	if added, err := e.s.AddChannel(e.ctx, "a", false); err != nil || !added {
		e.t.Fatalf("AddChannel = %v, %v", added, err)
	}
	if added, _ := e.s.AddChannel(e.ctx, "a", true); added {
		e.t.Fatal("AddChannel of an existing channel added it")
	}
	check("a", true, false)
	if added, _ := e.s.AddChannel(e.ctx, "chat", true); !added {
		e.t.Fatal("AddChannel chat")
	}
	check("chat", true, true)
	e.must(e.s.EnsureChannels(e.ctx, []string{"chat", "b", "c"}))
	check("chat", true, true) // left as it was
	check("b", true, false)
	check("c", true, false)
	if removed, err := e.s.RemoveChannel(e.ctx, "b"); err != nil || !removed {
		e.t.Fatalf("RemoveChannel = %v, %v", removed, err)
	}
	if removed, _ := e.s.RemoveChannel(e.ctx, "b"); removed {
		e.t.Fatal("RemoveChannel of a removed channel")
	}
	check("b", false, false)
}

func (e *env) connected(a *store.Auth, list []int64, wantOnline bool) {
	e.t.Helper()
	online, err := e.s.Connected(e.ctx, a, list)
	e.must(err)
	if online != wantOnline {
		e.t.Fatalf("Connected(%s, uid %d) online %v, want %v", a.Token, a.UID, online, wantOnline)
	}
}

func (e *env) disconnected(a *store.Auth) {
	e.t.Helper()
	e.must(e.s.Disconnected(e.ctx, a))
}

func testPresenceOnlineOffline(e *env) {
	a1, a2, anon := auth("t1", 1), auth("t2", 2), auth("anon", 0)
	e.connected(a1, []int64{2, 3}, true)
	e.connected(a1, []int64{9}, false) // a second tab
	e.connected(a2, nil, true)
	e.connected(anon, []int64{1}, false) // uid 0 is never online
	if st := e.stats(); st.Sockets != 4 || st.OnlineUsers != 2 {
		e.t.Fatalf("stats %+v", st)
	}
	if online, err := e.s.SetPresenceList(e.ctx, 2, []int64{1, 5}); err != nil || !online {
		e.t.Fatalf("SetPresenceList = %v, %v", online, err)
	}
	if online, _ := e.s.SetPresenceList(e.ctx, 7, []int64{1}); online {
		e.t.Fatal("SetPresenceList of an offline user")
	}

	e.disconnected(a1)
	e.disconnected(anon)
	e.clk.Advance(Grace)
	e.rec.Expect(e.t) // uid 1 still has a socket
	e.disconnected(a1)
	e.disconnected(a2)
	e.clk.Advance(Grace - time.Millisecond)
	e.rec.Expect(e.t)
	if st := e.stats(); st.Sockets != 0 || st.OnlineUsers != 2 {
		e.t.Fatalf("within grace %+v", st)
	}
	e.clk.Advance(time.Millisecond)
	// The list is the first socket's (the user came online with it), or the
	// one set since.
	got := drain(e.rec)
	want := []Event{{false, 1, []int64{2, 3}}, {false, 2, []int64{1, 5}}}
	if !sameEvents(got, want) {
		e.t.Fatalf("handler calls %+v, want %+v", got, want)
	}
	if st := e.stats(); st.OnlineUsers != 0 {
		e.t.Fatalf("after grace %+v", st)
	}
	// Back: online again.
	e.connected(a1, nil, true)
}

func drain(r *Recorder) []Event {
	var got []Event
	for {
		select {
		case ev := <-r.Events:
			got = append(got, ev)
		default:
			return got
		}
	}
}

// sameEvents compares calls in any order (the store decides users one by one,
// in no order).
func sameEvents(got, want []Event) bool {
	if len(got) != len(want) {
		return false
	}
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && reflect.DeepEqual(g, w) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func testPresenceGrace(e *env) {
	a1 := auth("t1", 1)
	e.connected(a1, []int64{2}, true)
	// A page reload: gone, back within the grace period.
	e.disconnected(a1)
	e.clk.Advance(Grace / 2)
	e.connected(a1, nil, false)
	e.clk.Advance(Grace)
	e.rec.Expect(e.t)
	// Leaving again restarts the period.
	e.disconnected(a1)
	e.clk.Advance(Grace / 2)
	e.connected(a1, nil, false)
	e.disconnected(a1)
	e.clk.Advance(Grace - time.Millisecond)
	e.rec.Expect(e.t)
	e.clk.Advance(time.Millisecond)
	e.rec.Expect(e.t, Event{false, 1, []int64{2}})
	e.clk.Advance(2 * Grace)
	e.rec.Expect(e.t) // once
}

func testPresenceSessions(e *env) {
	sessions := func(uid int64, token string, wantUID, wantToken int) {
		e.t.Helper()
		n, err := e.s.UserSessions(e.ctx, uid)
		e.must(err)
		m, err := e.s.TokenSessions(e.ctx, token)
		e.must(err)
		if n != wantUID || m != wantToken {
			e.t.Fatalf("sessions of uid %d, token %s: %d, %d; want %d, %d", uid, token, n, m, wantUID, wantToken)
		}
	}
	a1, a1b, anon1, anon2 := auth("t1", 1), auth("t1b", 1), auth("anon1", 0), auth("anon2", 0)
	sessions(1, "t1", 0, 0)
	e.connected(a1, nil, true)
	e.connected(a1, nil, false)
	e.connected(a1b, nil, false)
	e.connected(anon1, nil, false)
	e.connected(anon2, nil, false)
	sessions(1, "t1", 3, 2)
	sessions(1, "t1b", 3, 1)
	sessions(0, "anon1", 2, 1)
	// Sockets outlive the cache entry of their token.
	e.must(e.s.CacheAuth(e.ctx, a1, time.Hour))
	if _, err := e.s.ForgetToken(e.ctx, "t1"); err != nil {
		e.t.Fatal(err)
	}
	sessions(1, "t1", 3, 2)
	e.disconnected(a1)
	e.disconnected(anon1)
	sessions(1, "t1", 2, 1)
	sessions(0, "anon1", 1, 0)
	e.disconnected(a1)
	e.disconnected(a1b)
	sessions(1, "t1", 0, 0)
	if st := e.stats(); st.Sockets != 1 {
		e.t.Fatalf("stats %+v", st)
	}
}

func testContentTokens(e *env) {
	const ttl = time.Hour
	body := func(ch, tok string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"channel":%q,"token":%q}`, ch, tok))
	}
	add := func(ch, tok string, notify bool) {
		e.t.Helper()
		e.must(e.s.AddContentToken(e.ctx, store.ContentToken{Channel: ch, Token: tok, Body: body(ch, tok), Notify: notify}, ttl))
	}
	redeem := func(ch, tok string, m store.Member, want bool) {
		e.t.Helper()
		ct, err := e.s.RedeemContentToken(e.ctx, ch, tok, m)
		e.must(err)
		if (ct != nil) != want {
			e.t.Fatalf("redeem %s/%s: %+v, want %v", ch, tok, ct, want)
		}
		if ct != nil && (ct.Channel != ch || ct.Token != tok || string(ct.Body) != string(body(ch, tok))) {
			e.t.Fatalf("redeemed %+v", ct)
		}
	}
	if ok, _ := e.s.ContentChannelExists(e.ctx, "w"); ok {
		e.t.Fatal("exists before a token")
	}
	add("w", "k1", true)
	add("w", "k2", false)
	add("w", "k3", true)
	add("w", "k4", false)
	add("v", "k1", false)
	if ok, _ := e.s.ContentChannelExists(e.ctx, "w"); !ok {
		e.t.Fatal("no channel after a token")
	}
	m5a, m5b := store.Member{SocketID: "s5a", UID: 5, AuthToken: "t5"}, store.Member{SocketID: "s5b", UID: 5, AuthToken: "t5b"}
	anonA, anonB := store.Member{SocketID: "sa", AuthToken: "anonA"}, store.Member{SocketID: "sb", AuthToken: "anonB"}
	redeem("w", "k1", m5a, true)
	redeem("w", "k1", m5b, false) // once
	redeem("w", "nope", m5b, false)
	redeem("nochannel", "k1", m5b, false)
	redeem("w", "k2", m5b, true)
	redeem("w", "k3", anonA, true)
	redeem("w", "k4", anonB, true)
	if ok, _ := e.s.ContentChannelExists(e.ctx, "nochannel"); ok {
		e.t.Fatal("a redeem created a channel")
	}
	uids, toks, err := e.s.ContentChannelUsers(e.ctx, "w")
	e.must(err)
	if !reflect.DeepEqual(uids, []int64{5}) || !reflect.DeepEqual(toks, []string{"anonA", "anonB"}) {
		e.t.Fatalf("users %v %v", uids, toks)
	}
	uids, toks, _ = e.s.ContentChannelUsers(e.ctx, "none")
	if uids == nil || toks == nil || len(uids)+len(toks) != 0 {
		e.t.Fatalf("users of no channel %#v %#v", uids, toks)
	}
	chans, err := e.s.ContentChannels(e.ctx)
	e.must(err)
	want := []store.ContentChannel{
		{Name: "v", Tokens: map[string]json.RawMessage{"k1": body("v", "k1")}, Sockets: map[string]json.RawMessage{}},
		{Name: "w", Tokens: map[string]json.RawMessage{}, Sockets: map[string]json.RawMessage{
			"s5a": body("w", "k1"), "s5b": body("w", "k2"), "sa": body("w", "k3"), "sb": body("w", "k4")}},
	}
	if !sameChannels(chans, want) {
		e.t.Fatalf("channels %s\nwant %s", fmtChannels(chans), fmtChannels(want))
	}
	if st := e.stats(); st.TokenChannels != 2 {
		e.t.Fatalf("stats %+v", st)
	}

	due := func(uid int64, tok, sid string, want bool) {
		e.t.Helper()
		ok, err := e.s.ContentLeaveDue(e.ctx, "w", uid, tok, sid)
		e.must(err)
		if ok != want {
			e.t.Fatalf("ContentLeaveDue(%d, %s, %s) = %v", uid, tok, sid, ok)
		}
	}
	leave := func(sid string, wantNotify bool) {
		e.t.Helper()
		notify, err := e.s.LeaveContentChannel(e.ctx, "w", sid)
		e.must(err)
		if notify != wantNotify {
			e.t.Fatalf("leave %s: notify %v", sid, notify)
		}
	}
	leave("s5a", true)
	due(5, "t5", "s5a", false) // uid 5 is still in, through s5b
	leave("s5b", false)
	due(5, "t5", "s5b", false) // its token did not ask
	leave("s5b", false)        // not a member any more
	leave("sa", true)
	due(0, "anonA", "sa", true)  // anonymous users are told apart by auth token
	due(0, "anonA", "sa", false) // once
	leave("sb", false)

	// A user who leaves through two sockets, each with a notifying token: of
	// the two grace periods, the latest leave's tells the channel, once.
	add("w", "k6", true)
	add("w", "k7", true)
	redeem("w", "k6", store.Member{SocketID: "s6a", UID: 6, AuthToken: "t6"}, true)
	redeem("w", "k7", store.Member{SocketID: "s6b", UID: 6, AuthToken: "t6b"}, true)
	leave("s6a", true)
	leave("s6b", true)
	due(6, "t6", "s6a", false) // a later leave started a grace period of its own
	due(6, "t6b", "s6b", true)
	due(6, "t6b", "s6b", false)
	// A user who comes back within the grace period stays.
	add("w", "k8", true)
	add("w", "k9", true)
	redeem("w", "k8", store.Member{SocketID: "s8a", UID: 8}, true)
	leave("s8a", true)
	redeem("w", "k9", store.Member{SocketID: "s8b", UID: 8}, true)
	due(8, "", "s8a", false)
}

func sameChannels(a, b []store.ContentChannel) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || !sameRaw(a[i].Tokens, b[i].Tokens) || !sameRaw(a[i].Sockets, b[i].Sockets) {
			return false
		}
	}
	return true
}

func sameRaw(a, b map[string]json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || string(v) != string(w) {
			return false
		}
	}
	return true
}

func fmtChannels(cs []store.ContentChannel) string {
	s := ""
	for _, c := range cs {
		s += c.Name + ": tokens{"
		for k, v := range c.Tokens {
			s += k + ":" + string(v) + " "
		}
		s += "} sockets{"
		for k, v := range c.Sockets {
			s += k + ":" + string(v) + " "
		}
		s += "}; "
	}
	return s
}

func testContentTokensExpire(e *env) {
	const ttl = time.Hour
	add := func(ch, tok string) {
		e.t.Helper()
		e.must(e.s.AddContentToken(e.ctx, store.ContentToken{Channel: ch, Token: tok, Body: json.RawMessage(`{}`)}, ttl))
	}
	add("w", "k1")
	add("m", "k1")
	e.clk.Advance(ttl / 2)
	add("v", "k2")
	ct, err := e.s.RedeemContentToken(e.ctx, "m", "k1", store.Member{SocketID: "s1", UID: 1})
	if err != nil || ct == nil {
		e.t.Fatalf("redeem: %v %v", ct, err)
	}
	e.clk.Advance(ttl/2 - time.Second)
	if ct, _ := e.s.RedeemContentToken(e.ctx, "w", "k1", store.Member{SocketID: "s2", UID: 2}); ct == nil {
		e.t.Fatal("expired early")
	}
	add("w", "k3")
	e.clk.Advance(ttl + 2*time.Minute)
	if ct, _ := e.s.RedeemContentToken(e.ctx, "w", "k3", store.Member{SocketID: "s3", UID: 3}); ct != nil {
		e.t.Fatal("redeemed an expired token")
	}
	// v's token expired unused: the channel went; m and w keep members.
	for ch, want := range map[string]bool{"v": false, "m": true, "w": true} {
		if ok, _ := e.s.ContentChannelExists(e.ctx, ch); ok != want {
			e.t.Fatalf("channel %s exists %v", ch, ok)
		}
	}
	if st := e.stats(); st.TokenChannels != 2 {
		e.t.Fatalf("stats %+v", st)
	}
}
