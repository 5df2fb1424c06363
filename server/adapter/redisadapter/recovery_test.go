package redisadapter_test

import (
	"testing"

	"github.com/socketd/socketd/internal/redistest"
	"github.com/socketd/socketd/server/adapter"
	"github.com/socketd/socketd/server/adapter/adaptertest"
	"github.com/socketd/socketd/server/adapter/redisadapter"
)

// Recovery across two nodes on one Redis: offsets from the stream, sessions
// taken once from either node, missed packets read back from the stream.
func TestRecoveryConformance(t *testing.T) {
	srv := redistest.Start(t)
	clusters := []*redisadapter.Cluster{
		newCluster(t, srv.Addr, redisadapter.Config{}),
		newCluster(t, srv.Addr, redisadapter.Config{}),
	}
	for _, c := range clusters {
		waitUp(t, c)
	}
	adaptertest.RunRecovery(t, 2, clusterFactory(clusters))
}

// The sharded wire has no room for the offset: recovery is refused there.
func TestRecoveryNeedsClassicWire(t *testing.T) {
	srv := redistest.Start(t)
	c := newCluster(t, srv.Addr, redisadapter.Config{Sharded: true})
	a, err := c.Factory()("/", adaptertest.NewNamespace())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.(adapter.Recoverer).EnableRecovery(adapter.RecoveryConfig{MaxDisconnection: 1}); err == nil {
		t.Fatal("recovery accepted on the sharded wire")
	}
}
