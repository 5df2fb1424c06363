package adminui_test

import (
	"testing"

	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adminui"
	"github.com/socketd/socketd/server/socketio"
)

// The wrapped adapter keeps connection-state recovery: a server with both
// starts, and its namespaces' adapters recover; one whose adapter cannot
// recover is refused at start.
func TestRecoveryThroughTheWrapper(t *testing.T) {
	ad, err := adminui.New(adminui.Options{})
	if err != nil {
		t.Fatal(err)
	}
	io, err := socketio.New(socketio.Config{Adapter: ad.Adapter(nil), Recovery: &socketio.Recovery{}})
	if err != nil {
		t.Fatalf("admin UI with recovery: %v", err)
	}
	defer func() { _ = io.Close(t.Context()) }()
	if err := ad.Attach(io); err != nil {
		t.Fatal(err)
	}
	defer ad.Close()
	if _, ok := io.Of("/").Adapter().(adapter.Recoverer); !ok {
		t.Fatal("the namespace's adapter does not recover")
	}
	plain := func(_ string, local adapter.Local) (adapter.Adapter, error) {
		return struct{ adapter.Adapter }{adapter.NewMemory(local)}, nil
	}
	ad2, _ := adminui.New(adminui.Options{})
	if _, err := socketio.New(socketio.Config{Adapter: ad2.Adapter(plain), Recovery: &socketio.Recovery{}}); err == nil {
		t.Fatal("an adapter that cannot recover was accepted behind the wrapper")
	}
}
