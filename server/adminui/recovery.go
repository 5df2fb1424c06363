package adminui

import (
	"context"
	"fmt"
	"time"

	"github.com/socketd/socketd/server/adapter"
)

// The wrapper passes connection-state recovery through to the adapter it
// wraps (socketio.Config.Recovery needs an adapter.Recoverer); a recovered
// socket's rooms come back through AddAll, so the admins hear of them.

var _ adapter.Recoverer = (*roomWatch)(nil)

func (w *roomWatch) recoverer() (adapter.Recoverer, error) {
	r, ok := w.Adapter.(adapter.Recoverer)
	if !ok {
		return nil, fmt.Errorf("adminui: the adapter %T does not support connection-state recovery", w.Adapter)
	}
	return r, nil
}

// EnableRecovery implements adapter.Recoverer.
func (w *roomWatch) EnableRecovery(cfg adapter.RecoveryConfig) error {
	r, err := w.recoverer()
	if err != nil {
		return err
	}
	return r.EnableRecovery(cfg)
}

// SaveSession implements adapter.SessionStore.
func (w *roomWatch) SaveSession(ctx context.Context, s adapter.Session, ttl time.Duration) error {
	r, err := w.recoverer()
	if err != nil {
		return err
	}
	return r.SaveSession(ctx, s, ttl)
}

// TakeSession implements adapter.SessionStore.
func (w *roomWatch) TakeSession(ctx context.Context, pid string, off adapter.Offset) (*adapter.Session, error) {
	r, err := w.recoverer()
	if err != nil {
		return nil, err
	}
	return r.TakeSession(ctx, pid, off)
}

// MissedPackets implements adapter.SessionStore.
func (w *roomWatch) MissedPackets(ctx context.Context, off adapter.Offset, rooms []adapter.Room) ([]adapter.StoredPacket, adapter.Offset, error) {
	r, err := w.recoverer()
	if err != nil {
		return nil, adapter.Offset{}, err
	}
	return r.MissedPackets(ctx, off, rooms)
}
