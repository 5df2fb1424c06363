package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestReadiness: ready while every check passes; a failing check, one that
// does not answer in time, or Drain makes it 503 with the reason in the body.
func TestReadiness(t *testing.T) {
	r := &Readiness{}
	fail := errors.New("backend down")
	var bad error
	hang := make(chan struct{})
	defer close(hang)
	r.Add("a", func(context.Context) error { return nil })
	r.Add("b", func(context.Context) error { return bad })
	get := func() (int, Report) {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		var rep Report
		if err := json.Unmarshal(w.Body.Bytes(), &rep); err != nil {
			t.Fatalf("body %q: %v", w.Body, err)
		}
		return w.Code, rep
	}
	if code, rep := get(); code != http.StatusOK || !rep.Ready || rep.Checks["a"] != "ok" || rep.Checks["b"] != "ok" {
		t.Fatalf("%d %+v", code, rep)
	}
	bad = fail
	if code, rep := get(); code != http.StatusServiceUnavailable || rep.Ready || rep.Checks["b"] != fail.Error() || rep.Draining {
		t.Fatalf("%d %+v", code, rep)
	}
	bad = nil
	r.Add("slow", func(ctx context.Context) error {
		select {
		case <-hang:
		case <-ctx.Done():
		}
		return ctx.Err()
	})
	if code, rep := get(); code != http.StatusServiceUnavailable || rep.Checks["slow"] != context.DeadlineExceeded.Error() {
		t.Fatalf("%d %+v", code, rep)
	}
	r = &Readiness{}
	r.Drain()
	if code, rep := get(); code != http.StatusServiceUnavailable || !rep.Draining || len(rep.Checks) != 0 {
		t.Fatalf("%d %+v", code, rep)
	}
}
