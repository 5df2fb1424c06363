package redisstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// The values the store keeps in Redis, and their decoders: what comes back
// from Redis is input like any other (another program may share the keys, a
// bug may have written them), so a decoder refuses what it does not expect and
// never panics (FuzzDecode).

// errBadValue is a value read from Redis that does not decode.
var errBadValue = errors.New("redisstore: malformed value in Redis")

// maxListLen bounds a presence list read back (Drupal's lists are a user's
// contacts: dozens, rarely thousands).
const maxListLen = 100_000

// encodeList writes a presence list as decimal uids joined by commas.
func encodeList(list []int64) string {
	var b strings.Builder
	for i, u := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(u, 10))
	}
	return b.String()
}

// decodeList reads what encodeList wrote.
func decodeList(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	if n := strings.Count(s, ",") + 1; n > maxListLen {
		return nil, fmt.Errorf("%w: presence list of %d uids", errBadValue, n)
	}
	out := make([]int64, 0, strings.Count(s, ",")+1)
	for f := range strings.SplitSeq(s, ",") {
		u, err := decodeUID(f)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// decodeUID reads a uid: decimal digits, not negative.
func decodeUID(s string) (int64, error) {
	if s == "" || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("%w: uid %q", errBadValue, s)
	}
	u, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: uid %q", errBadValue, s)
	}
	return u, nil
}

// tokenValue is a content token as kept: notifyOnDisconnect and Drupal's body.
type tokenValue struct {
	Notify bool            `json:"f"`
	Body   json.RawMessage `json:"b"`
}

// encodeToken writes a content token; body is valid JSON (Drupal's request,
// checked when it came), kept byte for byte.
func encodeToken(notify bool, body json.RawMessage) string {
	return `{"f":` + strconv.FormatBool(notify) + `,"b":` + string(body) + `}`
}

func decodeToken(s string) (tokenValue, error) {
	var v tokenValue
	if err := json.Unmarshal([]byte(s), &v); err != nil || len(v.Body) == 0 {
		return tokenValue{}, fmt.Errorf("%w: content token", errBadValue)
	}
	return v, nil
}

// memberValue is a member of a content token channel: the node that has the
// socket, the user, and the token it redeemed.
type memberValue struct {
	Node      string     `json:"n"`
	UID       int64      `json:"u"`
	AuthToken string     `json:"t"`
	Token     tokenValue `json:"tok"`
}

// memberHead is a member's JSON up to its token, which the redeem script
// appends (and the closing brace) as it was stored, so the body is never
// decoded and encoded again on the way.
func memberHead(node string, uid int64, authToken string) string {
	n, _ := json.Marshal(node)
	t, _ := json.Marshal(authToken)
	return `{"n":` + string(n) + `,"u":` + strconv.FormatInt(uid, 10) + `,"t":` + string(t) + `,"tok":`
}

func decodeMember(s string) (memberValue, error) {
	var v memberValue
	if err := json.Unmarshal([]byte(s), &v); err != nil || v.UID < 0 || len(v.Token.Body) == 0 {
		return memberValue{}, fmt.Errorf("%w: content channel member", errBadValue)
	}
	return v, nil
}
