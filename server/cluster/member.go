package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Member is one live node as the registry lists it.
type Member struct {
	// ID is unique per process run: a restarted node gets a new one even if it
	// gets its old tag back, so state keyed by ID dies with the process.
	ID string
	// Tag is the node's short tag; the sids it makes start with it.
	Tag string
	// URL is where the other nodes reach this one: scheme://host:port.
	URL string
}

// Registry is the shared table of live members. Leases are measured by the
// registry's own clock, so the nodes' clocks need not agree.
type Registry interface {
	// Announce records m as live for ttl from now, or renews its lease. It
	// returns ErrTagTaken, changing nothing, when another member's live lease
	// holds m.Tag.
	Announce(ctx context.Context, m Member, ttl time.Duration) error
	// Withdraw removes m's entry if it is still m's.
	Withdraw(ctx context.Context, m Member) error
	// Members lists the members whose lease has not ended.
	Members(ctx context.Context) ([]Member, error)
}

// ErrTagTaken is returned by Announce when the tag belongs to another live member.
var ErrTagTaken = errors.New("cluster: tag taken by another live node")

// alphabet is the Engine.IO sid alphabet (base64url): a tag is a sid prefix.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// Bounds of what the registry accepts, so that an entry read back (from Redis,
// written by anyone) is checked before it is used.
const (
	maxTagLen = 8
	maxIDLen  = 64
	maxURLLen = 512
)

// randomString returns n characters of alphabet from crypto/rand.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]&63]
	}
	return string(b)
}

func validToken(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(alphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// CheckURL accepts scheme://host[:port] with scheme http or https, and no path,
// query or user info: the engine appends the request's own path.
func CheckURL(raw string) error {
	if len(raw) > maxURLLen || strings.ContainsAny(raw, " \t\r\n") {
		return fmt.Errorf("cluster: node URL %q: too long or has spaces", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("cluster: node URL %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("cluster: node URL %q: want http://host:port or https://host:port", raw)
	}
	return nil
}

func (m Member) check() error {
	switch {
	case !validToken(m.Tag, maxTagLen):
		return fmt.Errorf("cluster: bad tag %q", m.Tag)
	case !validToken(m.ID, maxIDLen):
		return fmt.Errorf("cluster: bad node id %q", m.ID)
	}
	return CheckURL(m.URL)
}

// An entry is how a member's lease is stored in Redis: the hash field is the
// tag, the value "<lease end, Unix ms> <id> <url>".

func encodeEntry(m Member, leaseEndMs int64) string {
	return strconv.FormatInt(leaseEndMs, 10) + " " + m.ID + " " + m.URL
}

// decodeEntry reads an entry back; anything malformed is an error, never a member.
func decodeEntry(tag, value string) (m Member, leaseEndMs int64, err error) {
	end, rest, ok := strings.Cut(value, " ")
	if !ok {
		return m, 0, fmt.Errorf("cluster: entry %q: no id", value)
	}
	id, u, ok := strings.Cut(rest, " ")
	if !ok {
		return m, 0, fmt.Errorf("cluster: entry %q: no url", value)
	}
	leaseEndMs, err = strconv.ParseInt(end, 10, 64)
	if err != nil || leaseEndMs < 0 {
		return m, 0, fmt.Errorf("cluster: entry %q: bad lease end", value)
	}
	m = Member{ID: id, Tag: tag, URL: u}
	if err := m.check(); err != nil {
		return Member{}, 0, err
	}
	return m, leaseEndMs, nil
}

func sortMembers(ms []Member) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].Tag < ms[j].Tag })
}
