package storetest

import (
	"slices"
	"sync"
	"time"

	"github.com/socketd/socketd/drupal/store"
)

// Clock is a store.Clock driven by hand: time moves only in Advance, which
// runs the timers that came due on the caller's goroutine, in order. Several
// stores (nodes) may share one.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

type timer struct {
	c    *Clock
	at   time.Time
	f    func()
	done bool // fired or stopped
}

var _ store.Clock = (*Clock)(nil)

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock { return &Clock{now: time.Unix(1_600_000_000, 0)} }

// Now implements store.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc implements store.Clock.
func (c *Clock) AfterFunc(d time.Duration, f func()) store.Stopper {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves time on by d, running each timer that comes due at its own
// instant (a timer armed by one that fires runs too if it is due).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *timer
		for _, t := range c.timers {
			if !t.done && !t.at.After(end) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		c.timers = slices.DeleteFunc(c.timers, func(t *timer) bool { return t.done })
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		next.done = true
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
	}
}
