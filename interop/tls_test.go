package interop_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes NAME.pem and NAME.key: a self-signed certificate for
// "localhost" that Python's ssl module accepts under ZEO's
// VERIFY_X509_STRICT (a CA with key usages and subject key id).
func selfSigned(t *testing.T, dir, name string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "localhost", Organization: []string{"zdkit interop " + name}},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          big.NewInt(serial).Bytes(),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(file, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, file), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(name+".pem", "CERTIFICATE", der)
	write(name+".key", "PRIVATE KEY", kder)
}

// ZEO 5's <ssl> section: a real client with a certificate the server
// authenticates commits over TLS; a client without one is refused.
func TestZEOTLS(t *testing.T) {
	python(t)
	dir := t.TempDir()
	selfSigned(t, dir, "server", 1)
	selfSigned(t, dir, "client", 2)
	addr := freePort(t)
	conf := filepath.Join(dir, "zeo.conf")
	text := "<zeo>\n  address " + addr + "\n  <ssl>\n    certificate " + filepath.Join(dir, "server.pem") +
		"\n    key " + filepath.Join(dir, "server.key") + "\n    authenticate " + filepath.Join(dir, "client.pem") +
		"\n  </ssl>\n</zeo>\n<filestorage>\n  path " + filepath.Join(dir, "Data.fs") + "\n</filestorage>\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dir, addr, nil, bin(t, "runzeo"), "-C", conf)
	r := py(t, dir, 90*time.Second, script(t, "zeo_client.py"), s.addr, "tls-cert", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "ok tls-cert") {
		t.Errorf("tls-cert: exit %d\n%s\n%s\nserver:\n%s", r.code, r.stdout, r.stderr, s.output())
	}
	r = py(t, dir, 90*time.Second, script(t, "zeo_client.py"), s.addr, "tls-nocert", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "refused: ClientDisconnected") {
		t.Errorf("tls-nocert: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}
