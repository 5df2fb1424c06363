package main

import (
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSoakChart: the chart of a soak document is well-formed SVG with a line
// per series (a figure that could not be read, -1, is left out of its line)
// and the reference and slow-consumer marks.
func TestSoakChart(t *testing.T) {
	raw := `{"started":"2026-12-04T00:00:00Z","config":{"n":1500,"label":"socketd abc123"},"machine":{"cpus":2},
	  "soak":{"sample_ns":10000000000,"duration_ns":120000000000,"warmup_ns":10000000000,"window_ns":10000000000,"settle_ns":15000000000,"lifetime_ns":30000000000,"polling_share":0.2,"slow_consumers":3},
	  "samples":[
	    {"t_s":0,"client_sockets":0,"server_sockets":0,"rss_kb":20000,"heap_bytes":2000000,"goroutines":12,"open_files":12,"load1":3},
	    {"t_s":10,"client_sockets":1500,"server_sockets":1510,"rss_kb":60000,"heap_bytes":9000000,"goroutines":400,"open_files":1800,"load1":4},
	    {"t_s":20,"client_sockets":1490,"server_sockets":-1,"rss_kb":61000,"heap_bytes":-1,"goroutines":410,"open_files":1790,"load1":4.5},
	    {"t_s":120,"client_sockets":1500,"server_sockets":1505,"rss_kb":62000,"heap_bytes":9100000,"goroutines":405,"open_files":1795,"load1":5}],
	  "reference_window":[1,2],"final_window":[3,3],"totals":{"connects":9000,"slow_cut":4},"ok":true}`
	var d soakDoc
	if err := json.Unmarshal([]byte(raw), &d); err != nil {
		t.Fatal(err)
	}
	svg := soakChart(&d)
	dec := xml.NewDecoder(strings.NewReader(svg))
	polylines, points := 0, map[string]int{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			polylines++
			for _, a := range se.Attr {
				if a.Name.Local == "points" {
					points[a.Value] = len(strings.Fields(a.Value))
				}
			}
		}
	}
	// RSS, heap, goroutines, open files, server sockets, client sockets, load.
	if polylines != 7 {
		t.Fatalf("%d lines, want 7", polylines)
	}
	short := 0
	for _, n := range points {
		if n == 3 {
			short++ // heap and server sockets miss the unread sample
		} else if n != 4 {
			t.Errorf("a line has %d points", n)
		}
	}
	if short != 2 {
		t.Errorf("%d lines leave out the unread sample, want 2", short)
	}
	for _, want := range []string{"1500 sockets for 2m0s", "socketd abc123", "reference", "final", "slow consumers start", "slow consumers end", "2 cores"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
}

func TestScanSoakLog(t *testing.T) {
	p := filepath.Join(t.TempDir(), "socketd.log")
	log := `time=... level=INFO msg="socketd listening"
time=... level=WARN msg="engine.io: slow consumer cut off: the client does not read what is sent to it" sid=a transport=websocket limit_bytes=4194304
time=... level=WARN msg="engine.io: slow consumer cut off: the client does not read what is sent to it" sid=b transport=polling limit_bytes=4194304 queued_bytes=4200000
time=... level=WARN msg="engine.io: slow consumer cut off: the client does not read what is sent to it" sid=b transport=polling limit_bytes=4194304 queued_bytes=4200000
panic: runtime error: index out of range
`
	if err := os.WriteFile(p, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	cuts, panics, err := scanSoakLog(p)
	if err != nil || cuts != 2 || panics != 1 {
		t.Fatalf("cuts %d, panics %d, err %v", cuts, panics, err)
	}
}
