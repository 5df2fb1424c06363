package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/socketd/socketd/drupal"
	"github.com/socketd/socketd/drupal/nodejsconfig"
	"github.com/socketd/socketd/server/socketio"
)

// The polling clients go through the Drupal flow against the real Socket.IO
// server and bridge (in this process) and stay connected while held.
func TestSmokePolling(t *testing.T) {
	for _, eio := range []int{3, 4} {
		t.Run("eio"+string(rune('0'+eio)), func(t *testing.T) {
			beLn, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			const key = "smoke-key"
			sio, err := socketio.New(socketio.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				defer cancel()
				_ = sio.Close(ctx)
			}()
			bePort := beLn.Addr().(*net.TCPAddr).Port
			bridge, err := drupal.New(nodejsconfig.Config{ServiceKey: key, Backend: nodejsconfig.BackendConfig{Host: "127.0.0.1", Port: bePort, BasePath: "/"}}, sio, drupal.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer bridge.Close()
			r := chi.NewRouter()
			r.Handle("/socket.io/*", sio)
			r.Mount("/nodejs", bridge.Routes())
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			hs := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
			go func() { _ = hs.Serve(ln) }()
			defer hs.Close()

			cfg := config{
				URL: "http://" + ln.Addr().String(), Path: "/socket.io/", BasePath: "/nodejs/",
				PID: os.Getpid(), N: 50, EIO: eio, Scenario: "idle", IO: "poll", Transport: "polling", Pollers: 1,
				Src: "auto", ServiceKey: key, backendLn: beLn,
				Concurrency: 10, ConnectTimeout: 20 * time.Second, IdleSettle: 10 * time.Millisecond,
				Channels: 5, Publishers: 1, RateStart: 50, RateFactor: 2, MaxRate: 100, MaxStages: 1, StageDur: time.Second, P99Limit: time.Hour, MaxPublishes: 10,
				Broadcasts: 1, Payload: 16, Gap: time.Millisecond, DeliverTimeout: time.Second, StepSettle: time.Millisecond,
				Timeout: time.Minute,
			}
			res, err := run(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Connect.OK != cfg.N || res.Connect.Failed != 0 {
				t.Fatalf("%d of %d polling clients authenticated; errors: %v", res.Connect.OK, cfg.N, res.Errors)
			}
			if res.Idle == nil || res.Idle.Conns != cfg.N || res.Idle.Disconnects != 0 {
				t.Fatalf("idle: %+v", res.Idle)
			}
			if res.Backend.Authenticate != int64(cfg.N) {
				t.Errorf("backend saw %d authenticate calls, want %d", res.Backend.Authenticate, cfg.N)
			}
			if !res.OK {
				t.Errorf("problems: %v", res.Problems)
			}
		})
	}
}

func TestDecodePayloadV3(t *testing.T) {
	// Lengths count UTF-16 code units: é is one, 😀 two.
	got, err := decodePayload(3, []byte("7:42[\"é\"]"+"4:4😀a"+"1:6"))
	if err != nil || strings.Join(got, "|") != `42["é"]|4😀a|6` {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := decodePayload(3, []byte("9:short")); err == nil {
		t.Fatal("a length beyond the payload must fail")
	}
	if _, err := decodePayload(3, []byte("x:1")); err == nil {
		t.Fatal("a bad length must fail")
	}
	if utf16Len("a😀") != 3 {
		t.Fatal("utf16Len")
	}
}
