package main

import (
	"strings"
	"testing"
)

func TestFilter(t *testing.T) {
	const pkg = "example.com/e2e"
	in := strings.Join([]string{
		`{"Action":"start","Package":"` + pkg + `"}`,
		`{"Action":"run","Package":"` + pkg + `","Test":"TestA"}`,
		`{"Action":"output","Package":"` + pkg + `","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"` + pkg + `","Test":"TestA","Output":"    a_test.go:9: chatter\n"}`,
		`{"Action":"pass","Package":"` + pkg + `","Test":"TestA","Elapsed":1.5}`,
		`{"Action":"run","Package":"` + pkg + `","Test":"TestB"}`,
		`{"Action":"output","Package":"` + pkg + `","Test":"TestB/sub","Output":"    b_test.go:20: want 2, got 3\n"}`,
		`{"Action":"fail","Package":"` + pkg + `","Test":"TestB/sub","Elapsed":0.25}`,
		`{"Action":"fail","Package":"` + pkg + `","Test":"TestB","Elapsed":0.5}`,
		`{"Action":"skip","Package":"` + pkg + `","Test":"TestC","Elapsed":0}`,
		`not JSON: a build error`,
		`{"Action":"output","Package":"` + pkg + `","Output":"FAIL\n"}`,
		`{"Action":"fail","Package":"` + pkg + `","Elapsed":2.25}`,
	}, "\n") + "\n"
	var out strings.Builder
	if status := filter(strings.NewReader(in), &out); status != 1 {
		t.Errorf("status %d, want 1", status)
	}
	want := strings.Join([]string{
		"    --- PASS: TestA (1.50s)",
		"    --- FAIL: TestB (0.50s)",
		"            b_test.go:20: want 2, got 3",
		"    --- SKIP: TestC (0.00s)",
		"not JSON: a build error",
		"FAIL",
		"FAIL\t" + pkg + "\t2.2s",
	}, "\n") + "\n"
	if out.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", out.String(), want)
	}

	out.Reset()
	ok := `{"Action":"run","Package":"p","Test":"TestA"}` + "\n" +
		`{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0.1}` + "\n" +
		`{"Action":"pass","Package":"p","Elapsed":0.2}` + "\n"
	if status := filter(strings.NewReader(ok), &out); status != 0 || out.String() != "    --- PASS: TestA (0.10s)\nok  \tp\t0.2s\n" {
		t.Fatalf("status %d, output %q", status, out.String())
	}
}
