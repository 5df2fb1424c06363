package drupal

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/socketd/socketd/drupal/nodejsconfig"
)

// Errors of the calls to Drupal; the concrete error wraps one of them with
// details (%w).
var (
	// ErrBackendStatus: Drupal answered with a status other than 200.
	ErrBackendStatus = errors.New("drupal: backend answered with a non-200 status")
	// ErrBadReply: Drupal's reply is not the JSON object expected.
	ErrBadReply = errors.New("drupal: backend reply is not a JSON object")
	// ErrBackendError: Drupal's reply carries an "error" field.
	ErrBackendError = errors.New("drupal: backend reported an error")
	// ErrInvalidToken: Drupal says the auth token is not valid.
	ErrInvalidToken = errors.New("drupal: auth token not valid")
	// ErrWrongClient: the auth reply names another socket than the one asking.
	ErrWrongClient = errors.New("drupal: auth reply is for another client")
)

// StatusError is Drupal's answer with a status other than 200;
// errors.Is(err, ErrBackendStatus) holds for it.
type StatusError struct {
	Code   int
	Status string // "503 Service Unavailable"
}

func (e *StatusError) Error() string { return ErrBackendStatus.Error() + ": " + e.Status }

// Is makes a StatusError match ErrBackendStatus.
func (e *StatusError) Is(target error) bool { return target == ErrBackendStatus }

// Unavailable reports whether err from a call to Drupal means that Drupal
// could not answer (the call failed or timed out, a 5xx, 408 or 429 status,
// a reply that does not parse), as opposed to Drupal answering no (an
// invalid token, an "error" field, another client's reply, another 4xx).
// kind names the failure for the log: "timeout", "unreachable",
// "HTTP 503 Service Unavailable", "unparsable reply".
func Unavailable(err error) (kind string, unavailable bool) {
	var se *StatusError
	switch {
	case err == nil, errors.Is(err, ErrInvalidToken), errors.Is(err, ErrWrongClient), errors.Is(err, ErrBackendError):
		return "", false
	case errors.As(err, &se):
		if se.Code >= 500 || se.Code == http.StatusRequestTimeout || se.Code == http.StatusTooManyRequests {
			return "HTTP " + se.Status, true
		}
		return "", false
	case errors.Is(err, ErrBadReply):
		return "unparsable reply", true
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout", true
	}
	return "unreachable", true
}

// maxReplyBytes bounds what is read of a Drupal reply.
const maxReplyBytes = 4 << 20

// Backend posts messages to Drupal's message endpoint (spec §3.4): a form POST
// with the fields messageJson (the message as JSON) and serviceKey, to
// backend.scheme://host:port + basePath + messagePath, with basic auth when
// backend.httpAuth is set. Every call is bounded by the auth timeout.
type Backend struct {
	url     string
	timeout time.Duration
	// formTail is the encoded "&serviceKey=..." every body ends with.
	formTail string
	// header is every request's header, built once and shared: neither the
	// Transport nor a Client writes to a request's header.
	header http.Header
	// rt is the Transport of the client NewBackend built, called directly: it
	// follows no redirects and keeps no cookies, so http.Client would only
	// add copies of the request (a third of a call's allocations). client is
	// a caller's own client, used as given.
	rt     *http.Transport
	client *http.Client
	// stats counts the calls and keeps Drupal's availability (Ready).
	stats backendCounters
	probe probeState
}

// backendConns bounds the connections to Drupal's message endpoint.
const backendConns = 64

// NewBackend builds the client of Drupal's message endpoint from cfg (defaults
// applied). hc nil means a client built from cfg: certificate checks only with
// backend.strictSSL, redirects not followed (drupal-node.js treated a 301 as a
// failure).
func NewBackend(cfg nodejsconfig.Config, hc *http.Client) *Backend {
	cfg = cfg.WithDefaults()
	b := &Backend{client: hc}
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: !cfg.Backend.StrictSSL} //nolint:gosec // backend.strictSSL defaults to false, as in drupal-node.js.
		// Keep as many connections as may be busy at once: with fewer idle
		// slots than concurrent calls, a connect storm dials and drops a TCP
		// connection per authentication (a sixth of socketd's CPU in a 10,000
		// client storm). The cap also spares Drupal's PHP workers: calls beyond
		// it wait for a free connection, within the auth timeout.
		tr.MaxConnsPerHost = backendConns
		tr.MaxIdleConnsPerHost = backendConns
		b.rt = tr
	}
	path := cfg.Backend.BasePath + cfg.Backend.MessagePath
	if strings.HasSuffix(cfg.Backend.BasePath, "/") && strings.HasPrefix(cfg.Backend.MessagePath, "/") {
		// basePath "/" with messagePath "/nodejs/message": Config cannot tell an
		// explicit basePath "" (the example file's) from the default "/".
		path = cfg.Backend.BasePath + cfg.Backend.MessagePath[1:]
	}
	b.url = cfg.Backend.Scheme + "://" + net.JoinHostPort(cfg.Backend.Host, strconv.Itoa(cfg.Backend.Port)) + path
	b.timeout = time.Duration(cfg.AuthTimeout)
	// url.Values.Encode's order (keys sorted) and escaping.
	b.formTail = "&serviceKey=" + url.QueryEscape(cfg.ServiceKey)
	b.header = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if cfg.Backend.HTTPAuth != "" {
		user, pass, _ := strings.Cut(cfg.Backend.HTTPAuth, ":")
		r := &http.Request{Header: http.Header{}}
		r.SetBasicAuth(user, pass)
		b.header["Authorization"] = r.Header["Authorization"]
	}
	return b
}

// URL is the endpoint messages are posted to.
func (b *Backend) URL() string { return b.url }

// CloseIdleConnections closes the kept-alive connections to Drupal that are
// not in use.
func (b *Backend) CloseIdleConnections() {
	if b.rt != nil {
		b.rt.CloseIdleConnections()
		return
	}
	b.client.CloseIdleConnections()
}

// Post sends msg (a JSON object: json.RawMessage, []byte, or a value for
// encoding/json) and returns the body of Drupal's 200 reply. A ctx that ends
// sooner than the auth timeout bounds the call alone.
func (b *Backend) Post(ctx context.Context, msg any) ([]byte, error) {
	start := time.Now()
	body, err := b.post(ctx, msg)
	b.stats.record(CallMessage, resultOf(ctx, err), start)
	return body, err
}

func (b *Backend) post(ctx context.Context, msg any) (body []byte, err error) {
	var js []byte
	switch m := msg.(type) {
	case json.RawMessage:
		js = m
	case []byte:
		js = m
	default:
		if js, err = json.Marshal(msg); err != nil {
			return nil, fmt.Errorf("drupal: encoding message: %w", err)
		}
	}
	if dl, ok := ctx.Deadline(); b.timeout > 0 && (!ok || time.Until(dl) > b.timeout) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, b.timeout)
		defer cancel()
	}
	form := "messageJson=" + url.QueryEscape(string(js)) + b.formTail
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url, strings.NewReader(form))
	if err != nil {
		return nil, fmt.Errorf("drupal: backend request: %w", err)
	}
	req.Header = b.header
	var resp *http.Response
	if b.rt != nil {
		resp, err = b.rt.RoundTrip(req)
	} else {
		resp, err = b.client.Do(req)
	}
	if err != nil {
		return nil, fmt.Errorf("drupal: backend call: %w", err)
	}
	defer resp.Body.Close()
	body, err = readAll(io.LimitReader(resp.Body, maxReplyBytes), resp.ContentLength)
	if err != nil {
		return nil, fmt.Errorf("drupal: reading backend reply: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, &StatusError{Code: resp.StatusCode, Status: resp.Status}
	}
	return body, nil
}

// readAll is io.ReadAll starting from the size the reply announced (plus one
// byte to see EOF without growing), not from 512 bytes and doubling.
func readAll(r io.Reader, size int64) ([]byte, error) {
	n := 512
	if size >= 0 && size < maxReplyBytes {
		n = int(size) + 1
	}
	b := make([]byte, 0, n)
	for {
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// Authenticate asks Drupal whether the client's authenticate message (spec
// §3.3: the client's object plus messageType "authenticate" and clientId) names
// a valid session, and checks the reply: an error field, a falsy
// nodejsValidAuthToken or a clientId other than clientID are errors.
func (b *Backend) Authenticate(ctx context.Context, msg json.RawMessage, clientID string) (r *AuthReply, err error) {
	start := time.Now()
	defer func() { b.stats.record(CallAuthenticate, resultOf(ctx, err), start) }()
	body, err := b.post(ctx, msg)
	if err != nil {
		return nil, err
	}
	r, err = ParseAuthReply(body)
	if err != nil {
		return nil, err
	}
	if !r.Valid {
		return r, ErrInvalidToken
	}
	if r.ClientID != clientID {
		return r, fmt.Errorf("%w: %q", ErrWrongClient, r.ClientID)
	}
	return r, nil
}

// AuthReply is Drupal's answer to an authenticate message (spec §3.5), read
// leniently: PHP may send the uid as a string, presenceUids nested or as an
// object after array_unique, contentTokens as [] when empty.
type AuthReply struct {
	// Valid is nodejsValidAuthToken.
	Valid bool
	// UID is the Drupal user id; 0 is anonymous.
	UID       int64
	AuthToken string
	ClientID  string
	// Channels the socket joins.
	Channels []string
	// PresenceUIDs are the users told when this one comes online or goes
	// offline.
	PresenceUIDs []int64
	// ContentTokens maps token channels to one-time tokens.
	ContentTokens map[string]string
	// Raw is the whole reply, what the browser gets in clientAuthenticated.
	Raw json.RawMessage
}

// ParseAuthReply reads Drupal's reply to authenticate. It fails when the reply
// is not a JSON object, carries a truthy "error", or has a uid that is not a
// non-negative integer.
func ParseAuthReply(body []byte) (*AuthReply, error) {
	raw := trimJSON(body)
	fs, err := objectFields(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReply, err)
	}
	m := fieldMap(fs)
	if truthy(m["error"]) {
		msg, _ := jsonString(m["error"])
		return nil, fmt.Errorf("%w: %q", ErrBackendError, msg)
	}
	// Raw is kept (cached, and by every socket of the token): copy it so the
	// read buffer, larger than the reply, is not kept with it. The strings
	// below are copies already (jsonString).
	r := &AuthReply{Valid: truthy(m["nodejsValidAuthToken"]), Raw: bytes.Clone(raw)}
	if v, ok := m["uid"]; ok && !isNull(v) {
		if r.UID, ok = jsonUID(v); !ok {
			return nil, fmt.Errorf("%w: uid %s", ErrBadReply, v)
		}
	}
	r.AuthToken, _ = jsonString(m["authToken"])
	if v := bytes.TrimSpace(m["clientId"]); len(v) > 0 && v[0] == '"' {
		r.ClientID, _ = jsonString(v)
	}
	r.Channels = stringList(m["channels"])
	// The user's presence keeps this list while the user is online: exactly
	// sized, not with append's spare room.
	r.PresenceUIDs = exactSize(uidList(m["presenceUids"], nil, 0))
	r.ContentTokens = stringMap(m["contentTokens"])
	return r, nil
}

// exactSize returns s, or a copy of it without spare capacity (nil when empty).
func exactSize[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	if cap(s) == len(s) {
		return s
	}
	out := make(S, len(s))
	copy(out, s)
	return out
}

func isNull(raw json.RawMessage) bool {
	v := bytes.TrimSpace(raw)
	return len(v) == 0 || string(v) == "null"
}

// stringList reads the strings of an array, or of an object's values (what PHP
// writes for an array with holes); numbers count as their text, other values are
// skipped.
func stringList(raw json.RawMessage) []string {
	var out []string
	for _, v := range containerValues(raw) {
		if s, ok := jsonString(v); ok && s != "" {
			out = append(out, s)
		}
	}
	return out
}

// uidList collects the uids in raw, however nested, once each and in order;
// 0 (anonymous) is skipped.
func uidList(raw json.RawMessage, out []int64, depth int) []int64 {
	if depth > 8 {
		return out
	}
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return out
	}
	if v[0] == '[' || v[0] == '{' {
		for _, e := range containerValues(v) {
			out = uidList(e, out, depth+1)
		}
		return out
	}
	if uid, ok := jsonUID(v); ok && uid > 0 {
		for _, u := range out {
			if u == uid {
				return out
			}
		}
		out = append(out, uid)
	}
	return out
}

// stringMap reads an object of strings; anything else is an empty map.
func stringMap(raw json.RawMessage) map[string]string {
	fs, err := objectFields(bytes.TrimSpace(raw))
	if err != nil {
		return nil
	}
	var out map[string]string
	for _, f := range fs {
		if s, ok := jsonString(f.value); ok {
			if out == nil {
				out = make(map[string]string, len(fs))
			}
			out[f.key] = s
		}
	}
	return out
}

// containerValues returns the elements of an array or the values of an object.
func containerValues(raw json.RawMessage) []json.RawMessage {
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return nil
	}
	switch v[0] {
	case '[':
		out, _ := arrayValues(v)
		return out
	case '{':
		fs, err := objectFields(v)
		if err != nil {
			return nil
		}
		out := make([]json.RawMessage, len(fs))
		for i, f := range fs {
			out[i] = f.value
		}
		return out
	}
	return nil
}
