package store_test

import (
	"testing"

	"github.com/socketd/socketd/drupal/store"
	"github.com/socketd/socketd/drupal/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clk *storetest.Clock) store.Store {
		s := store.NewMemory(store.MemoryConfig{OfflineGrace: storetest.Grace, Clock: clk})
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
