package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The dev-mode demo page as a newcomer uses it: it authenticates, its curl
// examples work exactly as shown, and a kick does not leave it claiming to
// reconnect.
func TestDemoPage(t *testing.T) {
	requireChromium(t)
	node := requireNode(t, "playwright-core")
	base := startDevSocketd(t)
	p := startNodeScript(t, node, browserScriptTimeout, "../browser/run.mjs",
		"--url", base+"/demo/?authToken=user-7", "--user-data-dir", t.TempDir(), "--executable", chromiumPath,
		"--timeout", strconv.Itoa(int(browserScriptTimeout/time.Millisecond)),
		"--watch", "#status,#curl-broadcast,#curl-user,#messages")
	c := watchClientEvents(p)
	t.Cleanup(func() { c.closeAndWait(browserCloseTimeout) })
	defer func() {
		if t.Failed() {
			t.Logf("browser events:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		}
	}()
	text := func(sel, what string, match func(string) bool) string {
		t.Helper()
		return c.find(t, "page", browserStartTimeout, what, func(e clientEvent) bool {
			return e.Ev == "text" && e.Sel == sel && match(e.Text)
		}).Text
	}
	contains := func(s string) func(string) bool { return func(x string) bool { return strings.Contains(x, s) } }

	text("#status", "authenticated as uid 7", contains("authenticated as uid 7"))
	for _, ex := range []struct{ sel, shows string }{
		{"#curl-broadcast", "from curl"},
		{"#curl-user", "only for you"},
	} {
		cmd := text(ex.sel, "the curl example in "+ex.sel, contains("curl "))
		if err := runCurl(cmd); err != nil {
			t.Fatalf("the page's example %q: %v", cmd, err)
		}
		text("#messages", "the message of "+ex.sel+" on the page", contains(ex.shows))
	}

	// Kicked: the server disconnects the socket, which does not come back.
	req, _ := http.NewRequest(http.MethodPost, base+"/nodejs/user/kick/7", nil)
	req.Header.Set("NodejsServiceKey", "dev-service-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	st := text("#status", "the status after a kick", func(s string) bool { return strings.HasPrefix(s, "disconnected") })
	if strings.Contains(st, "reconnecting") || !strings.Contains(st, "io server disconnect") {
		t.Fatalf("status after a kick: %q", st)
	}
}

// startDevSocketd starts `socketd -dev` on a free loopback port and returns
// its URL.
func startDevSocketd(t *testing.T) string {
	t.Helper()
	bin := buildBinary(t, "github.com/socketd/socketd/cmd/socketd")
	var lastOut string
	for attempt := 0; attempt < 3; attempt++ {
		port := freePort(t)
		if _, out, ok := tryStartSocketd(t, bin, "-dev", "-port", strconv.Itoa(port)); ok {
			return fmt.Sprintf("http://127.0.0.1:%d", port)
		} else {
			lastOut = out
		}
		if !strings.Contains(lastOut, "address already in use") {
			break
		}
	}
	t.Fatalf("socketd -dev did not start; output:\n%s", lastOut)
	return ""
}

// runCurl performs the curl command line the demo page shows (curl -X M -H
// 'h' ... -d 'body' 'url', POSIX single quotes) and checks the answer is a
// published message.
func runCurl(cmd string) error {
	args, err := shellWords(cmd)
	if err != nil {
		return err
	}
	if len(args) < 2 || args[0] != "curl" {
		return errors.New("not a curl command")
	}
	method, body, url := "GET", "", ""
	header := http.Header{}
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case (a == "-X" || a == "-H" || a == "-d") && i+1 < len(args):
			i++
			switch a {
			case "-X":
				method = args[i]
			case "-H":
				k, v, ok := strings.Cut(args[i], ": ")
				if !ok {
					return fmt.Errorf("header %q", args[i])
				}
				header.Add(k, v)
			case "-d":
				body = args[i]
			}
		case i == len(args)-1 && !strings.HasPrefix(a, "-"):
			url = a
		default:
			return fmt.Errorf("unexpected argument %q", a)
		}
	}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(reply), `{"status":"success","sent":`) || strings.Contains(string(reply), `"sent":0`) {
		return fmt.Errorf("HTTP %d %s", resp.StatusCode, reply)
	}
	return nil
}

// shellWords splits a command line as a POSIX shell would, for the forms the
// demo page writes: words separated by spaces, single-quoted strings, and \'
// between them.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, errors.New("unterminated quote")
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case ch == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		case ch == '"', ch == '$', ch == '`':
			return nil, fmt.Errorf("unquoted %q", ch)
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
