package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The TLS scenario (issue 14): every server of the suite once more over
// https/wss per certificate kind, in the same rounds, with a certificate the
// runner makes: RSA-2048 or ECDSA P-256, under a CA of the same kind.
// socketbench trusts the CA (-tls-ca). A TLS run is named <server>-tls-<kind>
// (socketd-tls-rsa) and compared with the Node peer's run of the same kind.

// tlsKinds are the certificate kinds -tls accepts.
var tlsKinds = []string{"rsa", "ecdsa"}

// tlsSuffix returns the "-tls-<kind>" part of a server name, or "".
func tlsSuffix(name string) string {
	if i := strings.Index(name, "-tls-"); i >= 0 {
		return name[i:]
	}
	return ""
}

// baseName is a server's name without its TLS suffix.
func baseName(name string) string { return strings.TrimSuffix(name, tlsSuffix(name)) }

// refOf is the reference ref (node, drupal-node, floor) for name: the run of
// the same TLS kind when name is a TLS run.
func refOf(name, ref string) string { return ref + tlsSuffix(name) }

// tlsFiles are one kind's certificate files.
type tlsFiles struct{ cert, key, ca string }

// makeTLS writes a CA and a server certificate for 127.0.0.1 of the given
// kind into dir.
func makeTLS(dir, kind string) (tlsFiles, error) {
	newKey := func() (crypto.Signer, error) {
		if kind == "rsa" {
			return rsa.GenerateKey(rand.Reader, 2048)
		}
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	f := tlsFiles{cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem"), ca: filepath.Join(dir, "ca.pem")}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return f, err
	}
	caKey, err := newKey()
	if err != nil {
		return f, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "socketd bench CA (" + kind + ")"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return f, err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := newKey()
	if err != nil {
		return f, err
	}
	usage := x509.KeyUsageDigitalSignature
	if kind == "rsa" {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: usage, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return f, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return f, err
	}
	for path, block := range map[string]*pem.Block{
		f.cert: {Type: "CERTIFICATE", Bytes: der},
		f.key:  {Type: "PRIVATE KEY", Bytes: kder},
		f.ca:   {Type: "CERTIFICATE", Bytes: caDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			return f, err
		}
	}
	return f, nil
}

// tlsVariants returns the TLS runs of list for each kind: the same servers,
// told to serve https with the kind's certificate (drupal-node.js is left
// out: it reads its certificate from its own config file).
func tlsVariants(list []server, kinds []string, dir string) ([]server, error) {
	var out []server
	for _, kind := range kinds {
		if !slices.Contains(tlsKinds, kind) {
			return nil, fmt.Errorf("unknown -tls kind %q (want rsa and/or ecdsa)", kind)
		}
		files, err := makeTLS(filepath.Join(dir, "tls-"+kind), kind)
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			v := s
			v.Name = s.Name + "-tls-" + kind
			v.URL = strings.Replace(s.URL, "http://", "https://", 1)
			v.Command = slices.Clone(s.Command)
			v.BenchArgs = []string{"-tls-ca", files.ca}
			switch s.Name {
			case "floor":
				v.Command = append(v.Command, "-tls-cert", files.cert, "-tls-key", files.key)
			case nodeRef:
				v.Command = append(v.Command, "--tls-cert", files.cert, "--tls-key", files.key)
			case "socketd":
				// The NODE_* variables drupal-node.js's Lagoon images set.
				v.Env = []string{"NODE_SCHEME=https", "NODE_SSL_CERT_PATH=" + files.cert, "NODE_SSL_KEY_PATH=" + files.key}
			default:
				continue
			}
			out = append(out, v)
		}
	}
	return out, nil
}

// tlsTargetsFor are issue 14's targets for a TLS run of socketd against the
// Node peer's run of the same kind, and its polling memory against its own
// plain polling run.
func (s *suite) tlsTargetsFor(name string) []target {
	get := func(server, key string) (float64, bool) {
		st, ok := s.Medians[server][key]
		return st.Median, ok && st.N > 0
	}
	ref := refOf(name, nodeRef)
	var out []target
	add := func(tname, rule, key, against string, factor float64, unit string) {
		t := target{Name: tname, Against: against, Rule: rule, Unit: unit, Status: "not measured"}
		v, ok1 := get(name, key)
		r, ok2 := get(against, key)
		if ok1 && ok2 {
			t.Value, t.Limit = v, round(r*factor)
			t.Met = v <= r*factor
			t.Status = map[bool]string{true: "met", false: "missed"}[t.Met]
		}
		out = append(out, t)
	}
	add("Idle memory (TLS)", "RSS per wss connection ≤ 1/3 of Node's over https", "idle_kb_per_conn", ref, 1.0/3, "KB")
	add("Broadcast CPU (TLS)", "CPU per delivery ≤ 1/2 of Node's over https", "bcast_cpu_us", ref, 0.5, "µs")
	t := target{Name: "Channel CPU (TLS)", Against: ref, Unit: "µs", Status: "not measured",
		Rule: "CPU per publish ≤ 1/2 of Node's over https at the highest rate both sustained"}
	if rate, cpu := s.cpuAtCommonRate([]string{name, ref}); rate > 0 {
		t.Rule += " (" + strconv.FormatFloat(rate, 'f', -1, 64) + "/s)"
		t.Value, t.Limit = cpu[name].Median, round(cpu[ref].Median*0.5)
		t.Met = t.Value <= t.Limit
		t.Status = map[bool]string{true: "met", false: "missed"}[t.Met]
	}
	out = append(out, t)
	add("Connect CPU (TLS)", "CPU per connect+authenticate ≤ 0.75 of Node's over https", "conn_cpu_us", ref, 0.75, "µs")
	if v, ok := get(name, "lost"); ok {
		t := target{Name: "No loss (TLS)", Rule: "every expected delivery received", Value: v, Unit: "lost", Met: v == 0}
		t.Status = map[bool]string{true: "met", false: "missed"}[t.Met]
		out = append(out, t)
	}
	if s.Options.Polling > 0 {
		add("Long-polling (TLS)", "EIO=3 polling clients over https, RSS per connection ≤ its own over plain http",
			"poll_kb_per_conn", baseName(name), 1, "KB")
	}
	return out
}
