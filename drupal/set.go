package drupal

import "slices"

// strSet is a small set of strings: a socket's channels or token channels,
// rarely more than a handful. A slice searched linearly costs a few bytes per
// entry where a Go map costs about 200 bytes even for one, which matters when
// every idle socket carries two of them.
type strSet []string

func (s strSet) has(v string) bool { return slices.Contains(s, v) }

func (s *strSet) add(v string) {
	if !s.has(v) {
		*s = append(*s, v)
	}
}

func (s *strSet) del(v string) {
	if i := slices.Index(*s, v); i >= 0 {
		*s = slices.Delete(*s, i, i+1)
		if len(*s) == 0 {
			*s = nil
		}
	}
}
