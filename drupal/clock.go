package drupal

import "time"

// clock is the time source of the bridge's timers (presence grace, content
// channel notifications, cache sweeps); tests replace it.
type clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) stopper
}

// stopper is a timer that can be cancelled.
type stopper interface{ Stop() bool }

// realClock uses the time package; now overrides time.Now (Options.Now).
type realClock struct{ now func() time.Time }

func (c realClock) Now() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

func (realClock) AfterFunc(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }
