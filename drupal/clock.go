package drupal

import (
	"time"

	"github.com/socketd/socketd/drupal/store"
)

// realClock is the time package's clock (store.Clock: the bridge's timers and
// its memory store's share one source, which tests replace); now overrides
// time.Now (Options.Now).
type realClock struct{ now func() time.Time }

func (c realClock) Now() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (realClock) AfterFunc(d time.Duration, f func()) store.Stopper { return time.AfterFunc(d, f) }
