package drupal

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// keyLog rate-limits the warning for Drupal API calls refused for a wrong or
// missing service key: a misconfigured Drupal, or someone probing the API,
// would otherwise log a line per request. Each remote address gets at most
// one line a minute, which counts the calls refused since its last line.
// At most keyLogAddrs addresses are tracked; past that (a scan from many
// addresses) the others share one entry, so memory stays bounded.
//
// The zero value is ready; the bridge owns one.
type keyLog struct {
	mu     sync.Mutex
	byAddr map[string]*keyRefusals
	others keyRefusals
	pruned time.Time // last pruneLocked: a full table is scanned at most once a second
}

type keyRefusals struct {
	logged     time.Time // last line written for this address
	suppressed int       // refusals since then
}

const (
	keyLogEvery = time.Minute
	keyLogAddrs = 1024
)

// refused records a refused call from remote (host:port or host) and logs
// it unless a line for that address was written less than a minute ago.
func (k *keyLog) refused(log *slog.Logger, now time.Time, remote, path string, missing bool) {
	addr := remote
	if host, _, err := net.SplitHostPort(remote); err == nil {
		addr = host
	}
	k.mu.Lock()
	e := k.byAddr[addr]
	if e == nil {
		if k.byAddr == nil {
			k.byAddr = make(map[string]*keyRefusals)
		}
		if len(k.byAddr) >= keyLogAddrs && now.Sub(k.pruned) >= time.Second {
			k.pruned = now
			k.pruneLocked(now)
		}
		if len(k.byAddr) < keyLogAddrs {
			e = &keyRefusals{}
			k.byAddr[addr] = e
		} else {
			e, addr = &k.others, "(other addresses)"
		}
	}
	if !e.logged.IsZero() && now.Sub(e.logged) < keyLogEvery {
		e.suppressed++
		k.mu.Unlock()
		return
	}
	suppressed := e.suppressed
	e.logged, e.suppressed = now, 0
	k.mu.Unlock()
	what := "wrong service key"
	if missing {
		what = "no service key"
	}
	log.Warn("drupal: API call refused: "+what+" (NodejsServiceKey header); one line a minute per address",
		slog.String("remote", addr), slog.String("path", path), slog.Int("refused_since_last_line", suppressed))
}

// pruneLocked forgets addresses whose minute has passed with nothing left
// to report.
func (k *keyLog) pruneLocked(now time.Time) {
	for a, e := range k.byAddr {
		if e.suppressed == 0 && now.Sub(e.logged) >= keyLogEvery {
			delete(k.byAddr, a)
		}
	}
}
